"""Property: the vectorised engine agrees with a slow, literal reading of the matching
rules (one visit at a time, plain Python loops) on random cohorts."""
from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup_helpers import contacts_df, treatments_df
from pv_service.followup.compliance import evaluate_compliance
from pv_service.followup.schedule import build_schedule

LABELS = [None, None, None, "D28", "M3", "M6", "M12", "Y2", "M1", "ZZ"]
PLANS = ["car_t_lifelong", "stem_cell_5y", "tight"]


def reference(grid: list[dict], visits: list[tuple], as_of: dt.date) -> dict[str, tuple[str, int | None]]:
    claims: dict[int, list[tuple]] = {}
    for order, (vid, day, label) in enumerate(visits):
        if day > as_of:
            continue
        row = prio = None
        for i, g in enumerate(grid):
            if label is not None and g["label"] == label and g["open"] <= day <= g["grace_end"]:
                row, prio = i, (3 if day <= g["close"] else 1)
        if row is None:
            for i, g in enumerate(grid):
                if g["open"] <= day <= g["close"]:
                    row, prio = i, 2
        if row is None:
            closed = [i for i, g in enumerate(grid) if g["close"] < day]
            if closed and day <= grid[closed[-1]]["grace_end"]:
                row, prio = closed[-1], 0
        if row is not None:
            claims.setdefault(row, []).append((-prio, day, order, vid))
    out = {}
    for i, g in enumerate(grid):
        if i in claims:
            _, day, _, vid = min(claims[i])
            out[g["label"]] = ("completed_on_time" if day <= g["close"] else "completed_late", vid)
        elif as_of < g["open"]:
            out[g["label"]] = ("not_yet_due", None)
        elif as_of <= g["close"]:
            out[g["label"]] = ("window_open", None)
        elif as_of <= g["grace_end"]:
            out[g["label"]] = ("overdue", None)
        else:
            out[g["label"]] = ("missed", None)
    return out


treatment_st = st.tuples(
    st.sampled_from(PLANS),
    st.dates(dt.date(2019, 1, 1), dt.date(2021, 12, 31)),
    st.lists(st.tuples(st.integers(0, 800), st.sampled_from(LABELS)), max_size=12),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cohort=st.lists(treatment_st, min_size=1, max_size=4), as_of_offset=st.integers(0, 900))
def test_engine_matches_reference(rules, cohort, as_of_offset):
    as_of = dt.date(2019, 1, 1) + dt.timedelta(days=as_of_offset + 30)
    t_rows, c_rows, visits = [], [], {}
    cid = 0
    for tid, (plan, infusion, vs) in enumerate(cohort, start=1):
        t_rows.append((tid, tid, plan, infusion.isoformat()))
        visits[tid] = []
        for offset, label in vs:
            cid += 1
            day = infusion + dt.timedelta(days=offset)
            c_rows.append((cid, tid, "visit", day.isoformat(), label))
            visits[tid].append((cid, day, label))
    t = treatments_df(t_rows)
    c = contacts_df(c_rows)
    result = evaluate_compliance(t, c, rules, as_of)
    grid = build_schedule(t, rules, as_of)
    tp = result.timepoints
    for tid in visits:
        g = grid[grid["treatment_id"] == tid]
        rows = [{"label": str(r.label), "open": r.window_start.date(), "close": r.window_end.date(),
                 "grace_end": r.overdue_until.date()} for r in g.itertuples()]
        expected = reference(rows, visits[tid], as_of)
        got_rows = tp[tp["treatment_id"] == tid]
        got = {str(r.label): (str(r.status), None if r.contact_id is None or str(r.contact_id) == "<NA>" else int(r.contact_id))
               for r in got_rows.itertuples()}
        assert got == expected
