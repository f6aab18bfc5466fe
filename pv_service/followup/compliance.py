"""Follow-up compliance: match contacts to the timepoint grid and classify, vectorised.

Pure: numpy and pandas only; the as-of date is a parameter (no wall clock).

Inputs
  treatments: treatment_id, patient_id, plan (a plan name in the rules: resolve it with
              ``FollowupRules.plan_for(product.modality, product.followup_plan)``),
              infusion_date; plan None/NA for a product without a usable plan: the
              treatment has no timepoints (status active unless stopped), and its stops
              still stop the patient's other treatments. Pass every treatment of each patient in scope: deaths,
              withdrawals and transfers propagate between a patient's treatments.
  contacts:   contact_id, treatment_id, kind (ContactKind), contact_date, and optionally
              timepoint (the label the clinic says the visit fulfils, or null).
  rules:      Rules or FollowupRules;  as_of: datetime.date.

Decisions (also in alerts/README.md)
  * Contacts dated after ``as_of`` are ignored, as are contacts for treatments not in
    ``treatments``. ``unreachable`` contacts are recorded attempts: they fulfil no
    timepoint and are not contact for the no-contact rule.
  * Stops: the earliest death / withdrawal / transfer (on a tie: death, then withdrawal,
    then transfer) stops the schedule. ``stop_scope`` in the rules says whether a stop
    recorded under one treatment stops all the patient's treatments (default: yes, for
    all three). Visits after the stop date are ignored. A timepoint stays in the
    result only if it was fulfilled by then or had already been missed (its grace period
    ended before the stop); timepoints still open, overdue or in the future at the stop
    are not expected and are dropped.
  * Matching, per treatment, at most one visit per timepoint:
      - a visit with an explicit label is matched to that timepoint if consistent: dated
        on or after its window opens and no later than the end of its grace period;
        otherwise the label is ignored and the visit is matched like an unlabelled one;
      - a visit inside a window fulfils that timepoint (windows never overlap: the
        loader checks this for every infusion date);
      - a visit outside every window, after a window closed but within that
        timepoint's grace period, fulfils that (most recent) timepoint late. After the
        grace period the timepoint is missed and the visit is unscheduled: it counts
        as contact but fulfils nothing;
      - when several visits claim one timepoint: in-window beats late, then labelled
        beats unlabelled, then the earliest wins; the others are unscheduled.
  * Timepoint status: completed_on_time (visit in the window), completed_late (visit in
    the grace period), not_yet_due (window not open), window_open, overdue (window
    closed, within the grace period, no visit), missed (grace period over, no visit).
  * Lost to follow-up (per treatment, by the plan's rule): ``consecutive_missed`` = that
    many missed timepoints (yearly ones only, or all, per ``counting``) with no visit for
    the treatment since the first of them; ``no_contact_months`` = no visit for any of the
    patient's treatments (or infusion, if later) for that many calendar months, judged at
    the as-of date or, for a fixed-duration plan, at the end of its schedule.
    A patient who comes back (a later visit) is active again.
  * Treatment status: deceased / withdrawn / transferred (stopped), else
    lost_to_follow_up, else completed (fixed-duration plan whose last grace period has
    ended), else active.
  * Patient status with several treatments, by precedence: a patient-scoped stop
    (deceased > withdrawn > transferred) > lost_to_follow_up (any treatment) > active
    (any treatment) > a treatment-scoped stop > completed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pv_service.common.vocab import ContactKind
from pv_service.followup.schedule import (
    NO_DAY,
    Grid,
    add_months,
    build_grid,
    codes_in,
    days_to_datetime64,
    nullable_int,
    to_days,
)

TIMEPOINT_STATUSES = ("not_yet_due", "window_open", "completed_on_time", "completed_late", "overdue", "missed")
NOT_YET_DUE, WINDOW_OPEN, ON_TIME, LATE, OVERDUE, MISSED = range(6)

TREATMENT_STATUSES = ("deceased", "withdrawn", "transferred", "lost_to_follow_up", "active", "completed")
PATIENT_STATUSES = TREATMENT_STATUSES

_KINDS = [k.value for k in ContactKind]
_K_VISIT = _KINDS.index("visit")
# stop kinds in tie-break order: death, withdrawal, transfer
_STOP_KINDS = ("death", "withdrawal", "transfer")
_STOP_STATUS = ("deceased", "withdrawn", "transferred")
_NONE = -1
_NEG = np.iinfo(np.int64).min // 4
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class ComplianceResult:
    as_of: dt.date
    timepoints: pd.DataFrame  # one row per expected (treatment, timepoint)
    treatments: pd.DataFrame  # one row per treatment
    patients: pd.DataFrame  # one row per patient


def _require(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}")


def _group_reduce(keys: np.ndarray, values: np.ndarray, n: int, fill: int, op: str) -> np.ndarray:
    """Per-key min or max of values into an array of length n (keys in [0, n))."""
    out = np.full(n, fill, dtype=np.int64)
    if keys.size == 0:
        return out
    if op == "max":
        np.maximum.at(out, keys, values)
    else:
        np.minimum.at(out, keys, values)
    return out


def evaluate_compliance(
    treatments: pd.DataFrame,
    contacts: pd.DataFrame,
    rules,
    as_of: dt.date,
    shown=None,
) -> ComplianceResult:
    """Classify every timepoint, treatment and patient as of ``as_of``. See module doc.

    ``shown``: treatment ids the caller may see (default: all). The others still count
    (their stops, and their visits for the no-contact rule), but the result reports only
    the shown ones, and each patient's status, stop and last visit come from those alone:
    an MAH sees nothing of another MAH's product of a co-treated patient.
    """
    fr = getattr(rules, "followup", rules)
    _require(treatments, ("treatment_id", "patient_id", "plan", "infusion_date"), "treatments")
    _require(contacts, ("contact_id", "treatment_id", "kind", "contact_date"), "contacts")
    as_of_day = int(to_days(as_of))

    # ---- treatments
    t_ids = treatments["treatment_id"].to_numpy()
    t_index = pd.Index(t_ids)
    if not t_index.is_unique:
        raise ValueError("treatments.treatment_id must be unique")
    n = len(t_ids)
    pat_code, pat_ids = pd.factorize(treatments["patient_id"], sort=False)
    pat_code = pat_code.astype(np.int64)
    n_pat = len(pat_ids)
    infusion = to_days(treatments["infusion_date"])
    if (infusion == _NAT).any():
        raise ValueError("treatments.infusion_date must not be missing")
    grid = build_grid(fr, treatments["plan"], infusion, as_of_day)
    cp = grid.plans

    # ---- contacts (dated on or before as_of, for known treatments)
    c_tr = t_index.get_indexer(contacts["treatment_id"])
    c_day = to_days(contacts["contact_date"])
    if (c_day == _NAT).any():
        raise ValueError("contacts.contact_date must not be missing")
    c_kind = codes_in(contacts["kind"], _KINDS)
    keep = (c_tr >= 0) & (c_day <= as_of_day)
    if (c_kind[keep] < 0).any():
        bad = sorted({str(k) for k in contacts["kind"][keep & (c_kind < 0)].unique()})
        raise ValueError(f"unknown contact kind(s) {bad}; one of {_KINDS}")
    c_tr = c_tr[keep]
    c_day = c_day[keep]
    c_kind = c_kind[keep]
    c_pos = np.flatnonzero(keep)  # back to the caller's contact rows

    # ---- stops: key = day * 4 + precedence, minimum wins
    stop_key_tr = np.full(n, np.iinfo(np.int64).max, np.int64)
    stop_key_pat = np.full(n_pat, np.iinfo(np.int64).max, np.int64)
    for prec, kind in enumerate(_STOP_KINDS):
        sel = c_kind == _KINDS.index(kind)
        if not sel.any():
            continue
        key = c_day[sel] * 4 + prec
        if fr.stop_scope.get(kind, "patient") == "patient":
            np.minimum.at(stop_key_pat, pat_code[c_tr[sel]], key)
        else:
            np.minimum.at(stop_key_tr, c_tr[sel], key)
    stop_key = np.minimum(stop_key_tr, stop_key_pat[pat_code])
    stopped = stop_key != np.iinfo(np.int64).max
    stop_day = np.where(stopped, stop_key // 4, NO_DAY)
    stop_prec = np.where(stopped, stop_key % 4, _NONE)
    stop_is_patient_scope = stopped & (stop_key == stop_key_pat[pat_code])

    # ---- visits (not after the stop)
    is_visit = (c_kind == _K_VISIT) & (c_day <= stop_day[c_tr])
    v_tr = c_tr[is_visit].astype(np.int64)
    v_day = c_day[is_visit]
    v_src = c_pos[is_visit]
    v_label = _visit_label_codes(contacts, v_src, cp.labels)
    last_visit_tr = _group_reduce(v_tr, v_day, n, _NEG, "max")

    matched = _match(grid, v_tr, v_day, v_label)  # per grid row: index into visits, or -1

    # ---- timepoint status
    fulfilled = matched >= 0
    m_day = np.append(v_day, 0)[matched]  # matched == -1 picks the padding
    status = np.full(grid.tr.size, MISSED, np.int8)
    status[as_of_day <= grid.grace_end] = OVERDUE
    status[as_of_day <= grid.close] = WINDOW_OPEN
    status[as_of_day < grid.open] = NOT_YET_DUE
    status[fulfilled] = np.where(m_day[fulfilled] <= grid.close[fulfilled], ON_TIME, LATE)
    expected = fulfilled | (grid.grace_end < stop_day[grid.tr])

    # ---- lost to follow-up
    p_tr = grid.plan_code
    rows_p = p_tr[grid.tr]
    in_scope = cp.count_all[rows_p] | grid.yearly
    streak_rows = expected & in_scope & (status == MISSED) & (grid.due > last_visit_tr[grid.tr])
    streak = np.bincount(grid.tr[streak_rows], minlength=n)
    planned = p_tr >= 0  # a treatment without a plan has no timepoints and no lost-to-follow-up rule
    need = np.where(planned, cp.consecutive_missed[p_tr], 0)
    lost_missed = (need > 0) & (streak >= need)

    last_visit_pat = _group_reduce(pat_code, last_visit_tr, n_pat, _NEG, "max")
    base = np.maximum(last_visit_pat[pat_code], infusion)
    ref = np.minimum(as_of_day, grid.schedule_end)
    months = np.where(planned, cp.no_contact_months[p_tr], 0)
    lost_nc = (months > 0) & (add_months(base, months) <= ref)
    lost = lost_missed | lost_nc

    completed = (grid.schedule_end != NO_DAY) & (as_of_day > grid.schedule_end)
    t_status = np.full(n, TREATMENT_STATUSES.index("active"), np.int8)
    t_status[completed] = TREATMENT_STATUSES.index("completed")
    t_status[lost] = TREATMENT_STATUSES.index("lost_to_follow_up")
    t_status[stopped] = stop_prec[stopped]  # 0 deceased, 1 withdrawn, 2 transferred

    timepoints = _timepoint_frame(grid, expected, status, matched, v_src, v_day, contacts, t_ids,
                                  treatments["patient_id"].to_numpy())
    treat_df = _treatment_frame(grid, expected, status, t_status, t_ids, treatments, stop_day, stopped,
                                last_visit_tr, streak, lost_missed, lost_nc, as_of_day)
    if shown is None:
        patient_df = _patient_frame(pat_code, pat_ids, n_pat, t_status, stop_is_patient_scope, stop_day,
                                    last_visit_pat)
    else:
        keep_tr = np.asarray(t_index.isin(list(shown)))
        seen_pat = np.bincount(pat_code[keep_tr], minlength=n_pat) > 0
        last_visit_seen = _group_reduce(pat_code[keep_tr], last_visit_tr[keep_tr], n_pat, _NEG, "max")
        patient_df = _patient_frame(pat_code[keep_tr], pat_ids, n_pat, t_status[keep_tr],
                                    stop_is_patient_scope[keep_tr], stop_day[keep_tr], last_visit_seen)
        patient_df = patient_df[seen_pat].reset_index(drop=True)
        timepoints = timepoints[timepoints["treatment_id"].isin(t_ids[keep_tr])].reset_index(drop=True)
        treat_df = treat_df[keep_tr].reset_index(drop=True)
    return ComplianceResult(as_of=as_of, timepoints=timepoints, treatments=treat_df, patients=patient_df)


def _visit_label_codes(contacts: pd.DataFrame, v_src: np.ndarray, labels: list[str]) -> np.ndarray:
    """Label code of each visit's explicit timepoint (-1 = none or not a label of any plan)."""
    if "timepoint" not in contacts.columns or v_src.size == 0:
        return np.full(v_src.size, -1, np.int32)
    col = contacts["timepoint"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return codes_in(col, labels)[v_src]
    return codes_in(col.take(v_src), labels)


def _match(grid: Grid, v_tr: np.ndarray, v_day: np.ndarray, v_label: np.ndarray) -> np.ndarray:
    """Per grid row, the index of the visit that fulfils it (-1 = none)."""
    n_rows = grid.tr.size
    out = np.full(n_rows, -1, np.int64)
    if v_tr.size == 0 or n_rows == 0:
        return out
    n_v = v_tr.size
    cand_row = np.full(n_v, -1, np.int64)
    cand_prio = np.zeros(n_v, np.int8)  # 2 = in window, +1 = labelled

    # 1. explicit labels, if consistent (window open <= date <= end of grace)
    has_label = v_label >= 0
    if has_label.any():
        li = np.flatnonzero(has_label)
        col = grid.plans.col_of_label[grid.plan_code[v_tr[li]], v_label[li]]
        n_cols = grid.row_start[v_tr[li] + 1] - grid.row_start[v_tr[li]]
        ok = (col >= 0) & (col < n_cols)
        row = np.where(ok, grid.row_start[v_tr[li]] + np.maximum(col, 0), 0)
        ok &= (v_day[li] >= grid.open[row]) & (v_day[li] <= grid.grace_end[row])
        cand_row[li[ok]] = row[ok]
        cand_prio[li[ok]] = np.where(v_day[li[ok]] <= grid.close[row[ok]], 3, 1)

    # 2. the others by window: last timepoint of the treatment whose window opened by then
    rest = np.flatnonzero(cand_row < 0)
    if rest.size:
        base = np.int64(min(int(grid.open.min()), int(v_day.min())) - 1)
        shift = np.int64(1 << 24)  # > any span of days in the data
        g_key = grid.tr.astype(np.int64) * shift + (grid.open - base)
        v_key = v_tr[rest] * shift + (v_day[rest] - base)
        pos = np.searchsorted(g_key, v_key, side="right") - 1
        okp = pos >= 0
        pos_c = np.maximum(pos, 0)
        okp &= grid.tr[pos_c] == v_tr[rest]
        in_window = okp & (v_day[rest] <= grid.close[pos_c])
        late = okp & ~in_window & (v_day[rest] <= grid.grace_end[pos_c])
        take = in_window | late
        cand_row[rest[take]] = pos_c[take]
        cand_prio[rest[take]] = np.where(in_window[take], 2, 0)

    # 3. one visit per timepoint: best priority, then earliest date, then input order.
    # One packed int64 per candidate (3 - priority | day | visit index), minimum per row.
    vi = np.flatnonzero(cand_row >= 0)
    if vi.size == 0:
        return out
    day_rel = v_day[vi] - v_day.min()
    packed = ((3 - cand_prio[vi].astype(np.int64)) << 58) | (day_rel << 32) | vi.astype(np.int64)
    best = np.full(n_rows, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(best, cand_row[vi], packed)
    has = best != np.iinfo(np.int64).max
    out[has] = best[has] & 0xFFFFFFFF
    return out


def _timepoint_frame(grid, expected, status, matched, v_src, v_day, contacts, t_ids, p_ids) -> pd.DataFrame:
    keep = np.flatnonzero(expected)
    tr = grid.tr[keep]
    m = matched[keep]
    has = m >= 0
    contact_ids = contacts["contact_id"].to_numpy()
    src = np.append(v_src, 0)[m]  # m == -1 picks the padding
    cid = contact_ids[src] if contact_ids.size else np.zeros(keep.size, np.int64)
    if np.issubdtype(np.asarray(cid).dtype, np.integer):
        cid_col = nullable_int(np.where(has, cid, 0), has)
    else:
        cid_col = pd.Series(np.where(has, cid, None), dtype=object)
    vday = np.append(v_day, 0)[m]
    return pd.DataFrame({  # copy=False: no consolidation copy of the big columns
        "treatment_id": t_ids[tr],
        "patient_id": p_ids[tr],
        "ordinal": grid.col[keep],
        "label": pd.Categorical.from_codes(grid.label_code[keep], categories=grid.plans.labels),
        "due_date": days_to_datetime64(grid.due[keep]),
        "window_start": days_to_datetime64(grid.open[keep]),
        "window_end": days_to_datetime64(grid.close[keep]),
        "overdue_until": days_to_datetime64(grid.grace_end[keep]),
        "status": pd.Categorical.from_codes(status[keep], categories=list(TIMEPOINT_STATUSES)),
        "contact_id": cid_col,
        "contact_date": days_to_datetime64(vday, missing=~has),
    }, copy=False)


def _treatment_frame(grid, expected, status, t_status, t_ids, treatments, stop_day, stopped, last_visit_tr,
                     streak, lost_missed, lost_nc, as_of_day) -> pd.DataFrame:
    n = t_ids.size
    tr = grid.tr[expected]
    st = status[expected]
    counts = {name: np.bincount(tr[st == code], minlength=n) for code, name in enumerate(TIMEPOINT_STATUSES)}
    # next timepoint needing a visit: the first expected one not completed and not missed
    open_rows = np.flatnonzero(expected & np.isin(status, (NOT_YET_DUE, WINDOW_OPEN, OVERDUE)))
    first_of_tr = open_rows[np.r_[True, grid.tr[open_rows][1:] != grid.tr[open_rows][:-1]]] if open_rows.size else open_rows
    next_row = np.full(n, -1, np.int64)
    next_row[grid.tr[first_of_tr]] = first_of_tr
    has_next = next_row >= 0
    nr = np.maximum(next_row, 0)
    labels = grid.plans.labels
    next_label = pd.Categorical.from_codes(np.where(has_next, grid.label_code[nr] if grid.tr.size else -1, -1),
                                           categories=labels)
    return pd.DataFrame({
        "treatment_id": t_ids,
        "patient_id": treatments["patient_id"].to_numpy(),
        "plan": pd.Categorical.from_codes(grid.plan_code, categories=grid.plans.names),
        "status": pd.Categorical.from_codes(t_status, categories=list(TREATMENT_STATUSES)),
        "stop_date": days_to_datetime64(np.where(stopped, stop_day, 0), missing=~stopped),
        "last_visit_date": days_to_datetime64(np.maximum(last_visit_tr, 0), missing=last_visit_tr == _NEG),
        "n_completed_on_time": counts["completed_on_time"],
        "n_completed_late": counts["completed_late"],
        "n_overdue": counts["overdue"],
        "n_missed": counts["missed"],
        "n_window_open": counts["window_open"],
        "missed_streak": streak,
        "lost_by_missed_visits": lost_missed & ~stopped,
        "lost_by_no_contact": lost_nc & ~stopped,
        "next_label": next_label,
        "next_due_date": days_to_datetime64(np.where(has_next, grid.due[nr] if grid.tr.size else 0, 0), missing=~has_next),
    })


def _patient_frame(pat_code, pat_ids, n_pat, t_status, stop_is_patient_scope, stop_day, last_visit_pat) -> pd.DataFrame:
    # precedence rank (lower wins): patient-scoped stops 0-2, lost 3, active 4, treatment-scoped stops 5-7, completed 8
    lost_c, active_c, completed_c = (TREATMENT_STATUSES.index(s) for s in ("lost_to_follow_up", "active", "completed"))
    is_stop = t_status <= 2
    rank = np.where(is_stop & stop_is_patient_scope, t_status,
                    np.where(is_stop, 5 + t_status,
                             np.where(t_status == lost_c, 3, np.where(t_status == active_c, 4, 8)))).astype(np.int64)
    best = _group_reduce(pat_code, rank, n_pat, 99, "min")
    rank_to_status = np.array([0, 1, 2, lost_c, active_c, 0, 1, 2, completed_c], np.int8)
    # 99: a patient none of whose treatments is shown (the caller drops the row)
    p_status = rank_to_status[np.where(best == 99, 0, best)]
    # stop date of the patient: earliest stop among the treatments whose stop decides
    decides = rank == best[pat_code]
    stop_any = np.where(decides & is_stop, stop_day, np.iinfo(np.int64).max)
    p_stop = _group_reduce(pat_code, stop_any, n_pat, np.iinfo(np.int64).max, "min")
    has_stop = p_stop != np.iinfo(np.int64).max
    n_tr = np.bincount(pat_code, minlength=n_pat)
    return pd.DataFrame({
        "patient_id": np.asarray(pat_ids),
        "status": pd.Categorical.from_codes(p_status, categories=list(PATIENT_STATUSES)),
        "stop_date": days_to_datetime64(np.where(has_stop, p_stop, 0), missing=~has_stop),
        "last_visit_date": days_to_datetime64(np.maximum(last_visit_pat, 0), missing=last_visit_pat == _NEG),
        "n_treatments": n_tr,
    })
