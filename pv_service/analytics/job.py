"""The sequential-monitoring job: one MaxSPRT look per product and monitored event group a day,
recorded in sequential_look, and a signal alert when the boundary has been crossed; the lot scan
rides along (lot excesses alert the same way). Plain functions of (session, now, rules)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.alerting.reconcile import log_event
from pv_service.alerting.workflow import SIGNAL_TYPE, initial_status
from pv_service.analytics import service
from pv_service.analytics.models import SequentialLook
from pv_service.analytics.groups import event_groups
from pv_service.analytics.queries import load_cohort
from pv_service.patients.models import Treatment
from pv_service.products.models import Product

PRIORITY = {"low": 20.0, "medium": 40.0, "high": 70.0, "critical": 90.0}


def raise_signal(session: Session, key: str, product: Product, severity: str, title: str, detail: dict,
                 now: dt.datetime) -> str:
    """Raise a signal alert once per key; later runs refresh its detail. A signal alert is never
    closed by a job, and one a person closed stays closed (the sequential test stops at its signal;
    a lot's excess is judged once)."""
    alert = session.exec(select(Alert).where(Alert.key == key)).first()
    if alert is None:
        alert = Alert(key=key, type=SIGNAL_TYPE, status=initial_status(SIGNAL_TYPE), severity=severity,
                      priority=PRIORITY[severity], title=title[:300], subject_type="product", subject_id=product.id,
                      product_id=product.id, detail=detail, first_raised_at=now, last_seen_at=now)
        session.add(alert)
        session.flush()
        log_event(session, alert, now, "raised", None, alert.status, title[:4000])
        return "raised"
    before = alert.detail.get("n")
    alert.detail = {**detail, "n_at_close": alert.detail.get("n_at_close")}
    alert.last_seen_at = now
    session.add(alert)
    if before != detail.get("n"):
        log_event(session, alert, now, "updated", alert.status, alert.status, f"n {before} -> {detail.get('n')}")
        return "updated"
    return "unchanged"


def record_look(session: Session, product: Product, look: dict, day: dt.date, fingerprint: str,
                now: dt.datetime) -> None:
    """One row per (product, group, day): a second run on the same day overwrites that day's look."""
    row = session.exec(select(SequentialLook).where(
        SequentialLook.product_id == product.id, SequentialLook.event_group == look["event_group"],
        SequentialLook.look_date == day)).first()
    values = dict(observed=look["observed"], expected=look["expected"], person_years=look["person_years"],
                  llr=look["llr"], max_llr=look["max_llr"], critical_value=look["critical_value"],
                  alpha=look["alpha"], surveillance_expected=look["surveillance_expected"],
                  min_events=look["min_events"], signalled=look["signalled"],
                  surveillance_ended=look["surveillance_ended"], rules_fingerprint=fingerprint, created_at=now)
    if row is None:
        row = SequentialLook(product_id=product.id, event_group=look["event_group"], look_date=day, **values)
    else:
        for k, v in values.items():
            setattr(row, k, v)
    session.add(row)


def sequential_monitoring(session: Session, now: dt.datetime, rules) -> dict:
    day = now.date()
    treated = sa.select(Treatment.product_id).distinct()
    products = session.exec(select(Product).where(Product.id.in_(treated)).order_by(Product.code)).all()
    counts = {"products": 0, "looks": 0, "signalled": 0, "raised": 0, "updated": 0, "lots_flagged": 0}
    sr = rules.analytics.sequential
    for product in products:
        lot_groups = event_groups(session.connection(), rules, product.modality)  # every rule group of the modality
        groups = service.monitored_groups(lot_groups, rules)
        if not groups and not lot_groups:
            continue
        cohort = load_cohort(session, product, rules, day)
        counts["products"] += 1
        for group, background in groups:
            look = service.sequential_look(cohort, rules, group, background)
            record_look(session, product, look, day, rules.fingerprint, now)
            counts["looks"] += 1
            if not look["signalled"]:
                continue
            counts["signalled"] += 1
            title = (f"{product.code}: {group.name} above background (MaxSPRT): {look['observed']} observed, "
                     f"{look['expected']:.3g} expected, LLR {look['max_llr']:.2f} >= {look['critical_value']:.2f}")
            detail = {"product": product.code, "event": group.name, "level": "group", "rule": "maxsprt", "measures": {},
                      "pt_codes": list(group.pt_codes),  # the group's cases: the alert's case series
                      "n": look["observed"], "expected": look["expected"], "llr": look["llr"],
                      "max_llr": look["max_llr"], "critical_value": look["critical_value"], "alpha": look["alpha"],
                      "surveillance_expected": look["surveillance_expected"], "min_events": look["min_events"],
                      "first_signal_date": look["first_signal_date"], "person_years": look["person_years"],
                      "background_source": look["background_source"], "look_date": day.isoformat()}
            outcome = raise_signal(session, f"sequential:{product.code}:{group.name}", product, sr.severity, title,
                                   detail, now)
            counts[outcome] = counts.get(outcome, 0) + 1
        counts["lots_flagged"] += _lot_alerts(session, product, cohort, rules, lot_groups, now, counts)
    session.flush()
    return counts


def _lot_alerts(session, product, cohort, rules, lot_groups, now, counts) -> int:
    flagged = 0
    lr = rules.analytics.lots
    for group in lot_groups:
        result = service.lot_analysis(cohort, rules, group, "batch_number")
        for lot in result["lots"]:
            if not lot["flagged"]:
                continue
            flagged += 1
            title = (f"{product.code}: lot {lot['lot']} has an excess of {group.name}: {lot['observed']} observed, "
                     f"{lot['expected']:.2f} expected (adjusted p {lot['p_adjusted']:.2g}, {lr.multiplicity})")
            detail = {"product": product.code, "event": group.name, "level": "lot", "rule": "lot_excess", "measures": {},
                      "pt_codes": list(group.pt_codes), "lot": lot["lot"],
                      "n": lot["observed"], "expected": lot["expected"],
                      "p_value": lot["p_value"], "p_adjusted": lot["p_adjusted"], "multiplicity": lr.multiplicity,
                      "patients": lot["patients"], "person_years": lot["person_years"]}
            outcome = raise_signal(session, f"lot:{product.code}:{lot['lot']}:{group.name}", product, lr.severity,
                                   title, detail, now)
            counts[outcome] = counts.get(outcome, 0) + 1
    return flagged
