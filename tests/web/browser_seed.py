"""A demo database for the browser test: the synthetic cohort, three signal runs, a queue of alerts.

The cohort is the demo's (300 patients, users ``demo-safety`` / ``demo-password``). The latest
runs are real runs of the statistics engine over it; the two earlier runs are the same
engine over the counts scaled down (60% and 80%), standing in for the database as it was
then, so the trend chart has something to show. Signal alerts are written by hand in the
shape the signal-detection job uses.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.alerting.reconcile import log_event
from pv_service.alerting.workflow import priority
from pv_service.demo import dictionary as demo_dictionary
from pv_service.demo.load import DEMO_PASSWORD, load_demo
from pv_service.jobs.definitions import current_rules
from pv_service.meddra.models import MeddraTerm
from pv_service.products.models import Product
from pv_service.products.seed import seed_products
from pv_service.signals.compute import compute_from_stratum_counts
from pv_service.signals.dataset import pair_counts
from pv_service.signals.hierarchy import designated_groups
from pv_service.signals.models import MEASURE_COLUMNS, SignalPair, SignalRun
from pv_service.signals.runs import run_signals

SAFETY_USER, SAFETY_PASSWORD = "demo-safety", DEMO_PASSWORD
T_CELL = "T-cell malignancies"


def _clean(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v) else float(v)


def _scaled_run(session: Session, now: dt.datetime, fraction: float, level: str, groups) -> None:
    """The engine over counts scaled by `fraction` (a stand-in for an earlier state of the database)."""
    frame = pair_counts(session, groups=groups)
    total = max(1, int(frame["n_total"].iloc[0] * fraction))
    n_product = (frame["n_product"] * fraction).round().clip(lower=1).astype(int)
    n_event = (frame["n_event"] * fraction).round().clip(lower=1).astype(int)
    a = (frame["a"] * fraction).round().astype(int).clip(lower=0)
    a = a.where(a <= n_product, n_product).where(a <= n_event, n_event)
    keep = a > 0
    result = compute_from_stratum_counts(frame["product"][keep], frame["event"][keep], a[keep], n_product[keep],
                                         n_event[keep], pd.Series(total, index=frame.index)[keep], min_count=1)
    run = SignalRun(started_at=now, finished_at=now, as_of=now.date(), level=level, n_reports=total,
                    n_pairs=len(result.table), params={"demo": f"counts scaled by {fraction}"})
    session.add(run)
    session.flush()
    rows = [{"run_id": run.id, "product": str(p), "event": str(e), **{c: _clean(v) for c, v in zip(MEASURE_COLUMNS, vals)}}
            for p, e, *vals in result.table[["product", "event", *MEASURE_COLUMNS]].itertuples(index=False, name=None)]
    session.execute(sa.insert(SignalPair.__table__), rows)


def _signal_alert(session: Session, now: dt.datetime, pair: SignalPair, *, level: str, pt_codes: list[str],
                  terms: list[str], rule: str, criteria: list[str], severity: str, title: str,
                  serious_fraction: float) -> Alert:
    measures = {c: getattr(pair, c) for c in MEASURE_COLUMNS}
    detail = {"product": pair.product, "event": pair.event, "event_name": pair.event_name, "level": level,
              "meddra_version": demo_dictionary.VERSION, "pt_codes": pt_codes, "terms": terms, "run_id": pair.run_id,
              "n": pair.n, "measures": measures, "rule": rule, "criteria_met": criteria,
              "serious_fraction": serious_fraction}
    score = priority(serious_fraction=serious_fraction, designated_medical_event=rule == "designated_medical_event",
                     eb05=pair.eb05, ror_lower=pair.ror_lower, n=pair.n, is_new=True)
    product_id = session.exec(select(Product.id).where(Product.code == pair.product)).one()
    alert = Alert(key=f"signal:{level}:{pair.product}:{pair.event}", type="signal", status="new", severity=severity,
                  priority=score, title=title, subject_type="pair", product_id=product_id, detail=detail,
                  first_raised_at=now, last_seen_at=now)
    session.add(alert)
    session.flush()
    log_event(session, alert, now, "raised", None, "new", f"{rule}: n={pair.n}, {', '.join(criteria)}")
    return alert


def _operational_alert(session: Session, now: dt.datetime, **fields) -> Alert:
    alert = Alert(status="open", first_raised_at=now, last_seen_at=now, **fields)
    session.add(alert)
    session.flush()
    log_event(session, alert, now, "raised", None, "open")
    return alert


def seed(engine, now: dt.datetime) -> dict:
    """Fill a migrated, empty database; returns what the test needs to know."""
    rules = current_rules().signals
    with Session(engine, expire_on_commit=False) as session:
        seed_products(session, now)
        load_demo(session, now, n_patients=300)
        groups, _ = designated_groups(session.connection(), rules.designated_medical_events, demo_dictionary.VERSION)
        t_cell_codes = sorted(groups[T_CELL])
        names = dict(session.exec(select(MeddraTerm.code, MeddraTerm.name).where(
            MeddraTerm.version == demo_dictionary.VERSION, MeddraTerm.level == "pt")).all())
        for months, fraction in ((6, 0.6), (3, 0.8)):
            earlier = now - dt.timedelta(days=30 * months)
            _scaled_run(session, earlier, fraction, "pt", None)
            _scaled_run(session, earlier, fraction, "group", groups)
        pt_run = run_signals(session, now, meddra_version=demo_dictionary.VERSION)
        group_run = run_signals(session, now, groups=groups, meddra_version=demo_dictionary.VERSION)

        group_pairs = session.exec(select(SignalPair).where(SignalPair.run_id == group_run.id,
                                                            SignalPair.event == T_CELL)).all()
        dme = max(group_pairs, key=lambda p: (p.n, p.product))
        pt_pairs = session.exec(select(SignalPair).where(SignalPair.run_id == pt_run.id, SignalPair.n >= 3,
                                                         SignalPair.event.not_in(t_cell_codes))).all()
        strongest = max(pt_pairs, key=lambda p: (p.ror_lower or 0, p.n))
        common = max((p for p in pt_pairs if p.id != strongest.id), key=lambda p: (p.n, p.product))

        dme_alert = _signal_alert(
            session, now, dme, level="group", pt_codes=t_cell_codes, terms=[names[c] for c in t_cell_codes],
            rule="designated_medical_event",
            criteria=["first case"], severity="critical", serious_fraction=1.0,
            title=f"{T_CELL} (T-cell lymphoma) after {dme.product}: designated medical event")
        stat_alert = _signal_alert(
            session, now, strongest, level="pt", pt_codes=[strongest.event], terms=[strongest.event_name],
            rule="statistical", criteria=["ror", "ic"], severity="high", serious_fraction=0.8,
            title=f"{strongest.event_name} after {strongest.product}: disproportionate reporting")
        weak_alert = _signal_alert(
            session, now, common, level="pt", pt_codes=[common.event], terms=[common.event_name], rule="statistical",
            criteria=["prr"], severity="medium", serious_fraction=0.3,
            title=f"{common.event_name} after {common.product}: disproportionate reporting")
        weak_alert.priority = min(weak_alert.priority, 20.0)
        session.add(weak_alert)
        _operational_alert(session, now, key="followup:treatment:1:Y2", type="followup", severity="medium",
                           priority=45.0, title="Y2 follow-up visit missed", subject_type="treatment", subject_id=1,
                           product_id=dme_alert.product_id,
                           detail={"treatment_id": 1, "timepoint": "Y2", "due_date": "2026-08-01",
                                   "status": "missed", "clinic": "Demo Cancer Center Houston"})
        _operational_alert(session, now, key="reporting_clock:1:FDA", type="reporting_clock", severity="high",
                           priority=60.0, title="15-day report to FDA due in 2 days", subject_type="case",
                           subject_id=1, product_id=stat_alert.product_id,
                           detail={"case_id": 1, "jurisdiction": "FDA", "clock_days": 15, "due_date": "2026-11-25"})
        session.commit()
        return {"dme": dme_alert, "statistical": stat_alert, "weak": weak_alert}
