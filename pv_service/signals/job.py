"""The nightly signal-detection job: statistics runs at each configured MedDRA level, then alert rules,
then the queue. Levels above PT use the newest loaded MedDRA version and are skipped (and said so in
the job's result) while none is loaded."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.alerting.models import Alert
from pv_service.alerting.moves import compare_and_set
from pv_service.alerting.reconcile import log_event
from pv_service.alerting.workflow import SIGNAL_OPEN, escalated_priority, priority, unreviewed
from pv_service.cases.access import counted_case, not_nullified
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from pv_service.products.models import Product
from pv_service.rules import Rules
from pv_service.rules.signal_rules import SignalRules
from pv_service.signals.detection import flag_pairs, should_reopen
from pv_service.signals.hierarchy import (
    analysis_version,
    designated_groups,
    pts_by_term,
)
from pv_service.signals.levels import Level
from pv_service.signals.mgps import Prior
from pv_service.signals.dataset import pair_counts
from pv_service.signals.levels import PT
from pv_service.signals.models import MEASURE_COLUMNS, SignalPair, SignalRun, SignalTrend
from pv_service.signals.trend import listed_reasons, quarter_key, quarterly
from pv_service.signals.runs import run_signals, stored_prior

SUSPECT_ROLES = ("suspect", "interacting")


def case_rows(session: Session, data_lock_point: dt.date | None = None) -> pd.DataFrame:
    """(case_id, product, modality, product_id, pt_code, pt_name, serious, quarter) over the latest version of
    each case first received by the data lock point (quarter: of first receipt, year*10 + q)."""
    stmt = (
        sa.select(Case.id.label("case_id"), Product.code.label("product"), Product.modality, Product.id.label("product_id"),
                  CaseReaction.pt_code, CaseReaction.pt_name, CaseVersion.serious, Case.first_received)
        .join(CaseVersion, CaseVersion.id == Case.latest_version_id)
        .join(CaseDrug, CaseDrug.case_version_id == CaseVersion.id)
        .join(Product, Product.id == CaseDrug.product_id)
        .join(CaseReaction, CaseReaction.case_version_id == CaseVersion.id)
        .where(CaseDrug.role.in_(SUSPECT_ROLES), counted_case())
        .distinct()
    )
    if data_lock_point is not None:
        stmt = stmt.where(Case.first_received <= data_lock_point)
    rows = pd.DataFrame(session.connection().execute(stmt).mappings().all(),
                        columns=["case_id", "product", "modality", "product_id", "pt_code", "pt_name", "serious",
                                 "first_received"])
    rows["quarter"] = [quarter_key(d) for d in rows["first_received"]]
    return rows.drop(columns="first_received")


def _measures(pairs: pd.DataFrame, product: str, event: str) -> dict:
    hit = pairs[(pairs["product"] == product) & (pairs["event"] == event)]
    if hit.empty:
        return {}
    return {c: (None if pd.isna(v) else float(v)) for c, v in hit.iloc[0][list(MEASURE_COLUMNS)].items()}


_PAIR_COLUMNS = ["product", "event", "event_name", "listed", *MEASURE_COLUMNS]


def _pairs_frame(session: Session, run_id: int | None) -> pd.DataFrame:
    if run_id is None:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    rows = session.exec(select(SignalPair).where(SignalPair.run_id == run_id)).all()
    return pd.DataFrame([r.model_dump() for r in rows], columns=_PAIR_COLUMNS)


def _pair_value(pairs: pd.DataFrame, product: str, event: str, column: str):
    if pairs.empty or column not in pairs:
        return None
    hit = pairs.loc[(pairs["product"] == product) & (pairs["event"] == event), column]
    return hit.iloc[0] if len(hit) else None


def _run_of(pairs: pd.DataFrame, product: str) -> int | None:
    hit = pairs.loc[pairs["product"] == product, "run_id"] if "run_id" in pairs else []
    return int(hit.iloc[0]) if len(hit) and not pd.isna(hit.iloc[0]) else None


@dataclass
class LevelPairs:
    """One level's stored pairs (all backgrounds) and which stored PT codes reach each of its terms."""
    level: Level
    pairs: pd.DataFrame
    pts: dict[str, list[str]]


def _pt_names(rows: pd.DataFrame) -> dict[str, str]:
    return rows.sort_values("pt_name").drop_duplicates("pt_code").set_index("pt_code")["pt_name"].to_dict()


def _listed(value) -> bool | None:
    return None if value is None or pd.isna(value) else bool(value)


def signal_specs(rows: pd.DataFrame, levels: list[LevelPairs], group_pairs: pd.DataFrame,
                 groups: dict[str, set[str]], rules: SignalRules, meddra_version: str | None = None,
                 trends: dict[tuple[str, str, str], pd.DataFrame] | None = None,
                 suppressed: list[dict] | None = None) -> list[dict]:
    """What the queue should hold: flagged pairs at every level, and designated medical events.

    Keys and matches are MedDRA codes (an alert is one product and one term at one level);
    names are carried for display. A flagged pair whose event is listed in the product's label
    is held back unless a `listed_events` rule holds on its quarterly trend (`trends`, keyed by
    level label, product, event); held-back pairs are appended to `suppressed`.
    """
    specs: list[dict] = []
    trends = trends or {}
    product_ids = dict(zip(rows["product"], rows["product_id"]))
    pt_names = _pt_names(rows)
    for lp in levels:
        flagged = flag_pairs(lp.pairs, rules) if not lp.pairs.empty else lp.pairs
        label = lp.level.label
        for rec in flagged.to_dict("records"):
            pts = lp.pts.get(rec["event"], [rec["event"]])
            name = rec.get("event_name") or rec["event"]
            cases = rows[(rows["product"] == rec["product"]) & rows["pt_code"].isin(pts)]
            serious = float(cases.drop_duplicates("case_id")["serious"].mean()) if len(cases) else 0.0
            listed = _listed(rec.get("listed"))
            key = f"signal:{label}:{rec['product']}:{rec['event']}"
            why = []
            if listed and rules.listed_events is not None:
                why = listed_reasons(trends.get((label, rec["product"], rec["event"]), pd.DataFrame()),
                                     rules.listed_events)
                if not why:
                    if suppressed is not None:
                        suppressed.append({"key": key, "product": rec["product"], "event": rec["event"],
                                           "level": label, "n": int(rec["n"])})
                    continue
            specs.append({
                "key": key, "designated": False,
                "title": f"{name} after {rec['product']}: disproportionate reporting",
                "product_id": product_ids.get(rec["product"]), "severity": "high" if serious >= 0.5 else "medium",
                "detail": {"product": rec["product"], "event": rec["event"], "event_name": name, "level": label,
                           "meddra_version": meddra_version, "pt_codes": pts,
                           "terms": [pt_names.get(p, p) for p in pts],
                           "run_id": _run_of(lp.pairs, rec["product"]), "n": int(rec["n"]),
                           "measures": _measures(lp.pairs, rec["product"], rec["event"]),
                           "rule": "statistical", "criteria_met": rec["criteria_met"] + why,
                           "serious_fraction": serious, "listed": listed},
            })
    for dme in rules.designated_medical_events:
        codes = groups.get(dme.name, set())
        hits = rows[rows["pt_code"].isin(codes) & rows["modality"].isin(dme.modalities)]
        for product, cases in hits.groupby("product"):
            per_case = cases.drop_duplicates("case_id")
            seen = sorted(set(cases["pt_code"]))
            listed = _listed(_pair_value(group_pairs, product, dme.name, "listed"))
            if listed and rules.listed_events is not None and not rules.listed_events.designated_medical_events_alert:
                if suppressed is not None:
                    suppressed.append({"key": f"signal:dme:{product}:{dme.name}", "product": product,
                                       "event": dme.name, "level": "group", "n": int(len(per_case))})
                continue
            specs.append({
                "key": f"signal:dme:{product}:{dme.name}", "designated": True,
                "title": f"{dme.name} after {product}: designated medical event",
                "product_id": product_ids.get(product), "severity": dme.severity,
                "detail": {"product": product, "event": dme.name, "event_name": dme.name, "level": "group",
                           "meddra_version": meddra_version, "pt_codes": sorted(codes),
                           "terms": [pt_names[p] for p in seen], "group_definition": _definition(dme),
                           "run_id": _run_of(group_pairs, product), "n": len(per_case),
                           "measures": _measures(group_pairs, product, dme.name),
                           "rule": "designated_medical_event", "criteria_met": ["first case"],
                           "serious_fraction": float(per_case["serious"].mean()), "listed": listed,
                           "case_ids": sorted(int(c) for c in per_case["case_id"])},
            })
    return specs


def _definition(dme) -> dict:
    return {"pt_codes": list(dme.pt_codes), "hlt_codes": list(dme.hlt_codes),
            "smqs": [{"code": s.code, "scope": s.scope} for s in dme.smqs]}


def apply_specs(session: Session, specs: list[dict], rules: SignalRules, now: dt.datetime) -> dict[str, int]:
    """Create, update or reopen one alert per product and event; never duplicate, never auto-close."""
    existing = {a.key: a for a in session.exec(select(Alert).where(Alert.type == "signal"))}
    counts = {"raised": 0, "updated": 0, "reopened": 0, "unchanged": 0}
    for spec in specs:
        d = spec["detail"]
        measures = d["measures"]
        alert = existing.get(spec["key"])
        is_new = alert is None
        score = priority(serious_fraction=d["serious_fraction"], designated_medical_event=spec["designated"],
                         eb05=measures.get("eb05"), ror_lower=measures.get("ror_lower"), n=d["n"],
                         is_new=is_new or unreviewed(d["n"], alert.reviewed_n))
        if not is_new:
            score = escalated_priority(alert.priority, score, alert.status in SIGNAL_OPEN)
        if is_new:
            alert = Alert(key=spec["key"], type="signal", status="new", severity=spec["severity"], priority=score,
                          title=spec["title"], subject_type="pair", product_id=spec["product_id"], detail=d,
                          first_raised_at=now, last_seen_at=now)
            session.add(alert)
            session.flush()
            log_event(session, alert, now, "raised", None, "new", f"{d['rule']}: n={d['n']}, {', '.join(d['criteria_met'])}")
            counts["raised"] += 1
            continue
        previous_n = alert.detail.get("n")
        n_at_close = alert.detail.get("n_at_close")
        alert.detail = {**d, "n_at_close": n_at_close}
        alert.last_seen_at = now
        alert.priority, alert.severity = score, spec["severity"]
        if alert.status not in SIGNAL_OPEN:
            if should_reopen(d["n"], n_at_close, min_new_cases=rules.reopen.min_new_cases,
                             growth_factor=rules.reopen.growth_factor, designated=spec["designated"],
                             dme_any_new_case=rules.reopen.dme_any_new_case):
                before = alert.status
                score = priority(serious_fraction=d["serious_fraction"], designated_medical_event=spec["designated"],
                                 eb05=measures.get("eb05"), ror_lower=measures.get("ror_lower"), n=d["n"], is_new=True)
                alert.priority = score
                if not compare_and_set(session, alert, before, status="new", resolved_at=None, resolution=None,
                                       status_since=now):
                    counts["unchanged"] += 1  # moved since read: the next run sees it as it is
                    continue
                log_event(session, alert, now, "reopened", before, "new",
                          f"evidence changed: n={d['n']} (was {n_at_close} when closed)")
                counts["reopened"] += 1
            else:
                counts["unchanged"] += 1
        elif previous_n != d["n"]:
            why = " (cases left the counts: confirmed duplicates or nullified)" if (previous_n or 0) > d["n"] else ""
            log_event(session, alert, now, "updated", alert.status, alert.status, f"n {previous_n} -> {d['n']}{why}")
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
        session.add(alert)
    counts["below_rule"] = _below_rule(session, [a for k, a in existing.items() if k not in {s["key"] for s in specs}],
                                       now)
    session.flush()
    return counts


def _below_rule(session: Session, alerts: list[Alert], now: dt.datetime) -> int:
    """Open signal alerts this run no longer flags: updated (never closed: people decide), saying why."""
    from pv_service.duplicates.models import DuplicateOf

    n = 0
    for alert in alerts:
        d = alert.detail or {}
        if alert.status not in SIGNAL_OPEN or d.get("below_rule"):
            continue
        product, pts = d.get("product"), d.get("pt_codes") or []
        of_pair = (sa.select(Case.id).join(CaseDrug, CaseDrug.case_version_id == Case.latest_version_id)
                   .join(Product, Product.id == CaseDrug.product_id)
                   .join(CaseReaction, CaseReaction.case_version_id == Case.latest_version_id)
                   .where(Product.code == product, CaseReaction.pt_code.in_(pts)).distinct())
        ids = set(session.execute(of_pair).scalars())
        dups = sorted(ids & set(session.execute(sa.select(DuplicateOf.case_id)).scalars()))
        nullified = sorted(ids - set(session.execute(of_pair.where(not_nullified())).scalars()))
        reason = (f"no longer meets its rule ({d.get('rule')}) in this run; left the counts since: "
                  f"{len(dups)} confirmed duplicate(s) {dups[:20]}, {len(nullified)} nullified {nullified[:20]}")
        alert.detail = {**d, "below_rule": True, "below_rule_reason": reason, "below_rule_at": now.isoformat()}
        session.add(alert)
        log_event(session, alert, now, "updated", alert.status, alert.status, reason)
        n += 1
    return n


def _levels(sr: SignalRules, meddra_version: str | None) -> tuple[list[Level], list[str]]:
    """The configured levels that can run now, and those skipped (above PT with no dictionary loaded)."""
    levels = [rule.to_level() for rule in sr.levels]
    if meddra_version is not None:
        return levels, []
    return [lv for lv in levels if not lv.needs_dictionary], [lv.label for lv in levels if lv.needs_dictionary]


def configured_prior(session: Session, sr: SignalRules) -> tuple[Prior | None, str | None, str]:
    """The prior `mgps_prior` in alerts/signal_rules.yaml names: (prior, origin, problem).
    A named run that is missing or had no prior is a problem, not a crash: the run goes on
    down the fallback order and records why."""
    cfg = sr.mgps_prior
    if cfg is None:
        return None, None, ""
    if cfg.hyperparameters is not None:
        return Prior.from_dict(dict(cfg.hyperparameters)), "alerts/signal_rules.yaml", ""
    run = session.get(SignalRun, cfg.run)
    prior = stored_prior(run) if run is not None else None
    if prior is None:
        return None, None, f"configured prior run {cfg.run} {'has no prior' if run else 'does not exist'}"
    return prior, f"run {cfg.run} (alerts/signal_rules.yaml)", ""


def _listedness(rows: pd.DataFrame, labelled: dict[str, set[str]], level_pts: dict[str, list[str]] | None,
                groups: dict[str, set[str]] | None):
    """(product, event) -> listed: every PT of the product's cases behind the pair is in the product's
    labels in force (None when the product has no label in force). `level_pts`: term -> PT codes at a
    level above PT; `groups`: group name -> PT codes; neither: the event is a PT code."""
    reported = rows.groupby("product")["pt_code"].agg(set).to_dict() if len(rows) else {}

    def listed(product: str, event: str) -> bool | None:
        label = labelled.get(product)
        if label is None:
            return None
        if groups is not None:
            pts = set(groups.get(event, ())) & reported.get(product, set())
        elif level_pts is not None:
            pts = set(level_pts.get(event, ())) & reported.get(product, set())
        else:
            pts = {event}
        return bool(pts) and pts <= label
    return listed


def _serious_by_quarter(rows: pd.DataFrame, wanted: list[tuple[str, str]], pts_of) -> pd.DataFrame:
    """(product, event, quarter, serious): the pair's serious cases by quarter of first receipt."""
    out = []
    for product, event in wanted:
        cases = rows[(rows["product"] == product) & rows["pt_code"].isin(pts_of(event))].drop_duplicates("case_id")
        for quarter, n in cases[cases["serious"].astype(bool)].groupby("quarter").size().items():
            out.append({"product": product, "event": event, "quarter": int(quarter), "serious": int(n)})
    return pd.DataFrame(out, columns=["product", "event", "quarter", "serious"])


def store_trends(session: Session, run_id: int, trend: pd.DataFrame) -> None:
    if trend.empty:
        return
    cols = [c.name for c in SignalTrend.__table__.columns if c.name not in ("id", "run_id")]
    values = [{"run_id": run_id, **{c: _clean_value(v) for c, v in zip(cols, rec)}}
              for rec in trend[cols].itertuples(index=False, name=None)]
    session.execute(sa.insert(SignalTrend.__table__), values)


def _clean_value(v):
    if isinstance(v, str):
        return v
    if v is None or pd.isna(v):
        return None
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        return None
    return int(v) if float(v).is_integer() and not isinstance(v, float) else f


def _quarterly(session: Session, rows: pd.DataFrame, wanted: list[tuple[str, str]], dlp: dt.date, *,
               level: Level | None = None, groups: dict[str, set[str]] | None = None, version: str | None = None,
               scope: list[str] | None = None, level_pts: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """The wanted pairs' quarterly rows (pv_service.signals.trend), from one count by quarter of receipt."""
    if not wanted:
        return pd.DataFrame()
    counts = pair_counts(session, strata=["report_quarter"], groups=groups, product_scope=scope,
                         level=level or PT, meddra_version=version, data_lock_point=dlp)
    if groups is not None:
        def pts_of(e): return groups.get(e, set())
    elif level_pts is not None:
        def pts_of(e): return level_pts.get(e, [e])
    else:
        def pts_of(e): return [e]
    return quarterly(counts, wanted, quarter_key(dlp), _serious_by_quarter(rows, wanted, pts_of))


def signal_detection(session: Session, now: dt.datetime, rules: Rules) -> dict:
    """Statistics over all reports (or per modality, as the rules' comparator says) at every configured
    level, a designated-medical-event group run, then alerts. Each run covers the data lock point (the
    run's date: cases first received by then); pairs carry whether their event is labelled, and the
    flagged and designated pairs their measures by calendar quarter."""
    from pv_service.rsi.service import listed_pt_codes  # late: rsi imports the cases and signals packages

    sr = rules.signals
    conn = session.connection()
    dlp = now.date()
    version = analysis_version(conn, None)
    groups, group_problems = designated_groups(conn, sr.designated_medical_events, version)
    levels, skipped = _levels(sr, version)
    prior, origin, problem = configured_prior(session, sr)
    always = sr.mgps_prior is not None and sr.mgps_prior.use == "always"
    rows = case_rows(session, dlp)
    labelled = listed_pt_codes(conn, dlp)
    level_pts = {lv.label: pts_by_term(conn, lv, version) if lv.needs_dictionary else None for lv in levels}
    if sr.comparator == "same_modality":
        backgrounds = [sorted(codes["product"].unique()) for _, codes in rows.groupby("modality")]
    else:
        backgrounds = [None]
    frames: dict[str, list[pd.DataFrame]] = {lv.label: [] for lv in levels}
    group_frames, run_ids = [], []
    trends: dict[tuple[str, str, str], pd.DataFrame] = {}
    trend_rows = 0

    def keep_trend(run: SignalRun | None, label: str, pairs: pd.DataFrame, wanted, **how) -> None:
        nonlocal trend_rows
        if run is None or not len(wanted):
            return
        t = _quarterly(session, rows, wanted, dlp, **how)
        store_trends(session, run.id, t)
        trend_rows += len(t)
        for (product, event), part in t.groupby(["product", "event"]) if len(t) else ():
            trends[(label, product, event)] = part.reset_index(drop=True)

    for scope in backgrounds:
        pt_run = None
        for lv in levels:
            listed = _listedness(rows, labelled, level_pts[lv.label], None)
            if lv.level == "pt":  # a configured prior describes preferred-term pairs: the PT run uses it
                run = run_signals(session, now, strata=sr.strata, level=lv, meddra_version=version,
                                  product_scope=scope, prior=prior if always else None, prior_origin=origin,
                                  fallback_prior=None if always else prior, fallback_origin=origin,
                                  data_lock_point=dlp, listed=listed)
                if run is not None and problem:
                    run.hyperparameters = {**run.hyperparameters, "configured_prior_problem": problem}
                pt_run = run
            else:
                run = run_signals(session, now, strata=sr.strata, level=lv, meddra_version=version,
                                  product_scope=scope, data_lock_point=dlp, listed=listed)
            pairs = _pairs_frame(session, run.id if run else None).assign(run_id=run.id if run else None)
            frames[lv.label].append(pairs)
            run_ids += [run.id] if run else []
            flagged = flag_pairs(pairs, sr) if len(pairs) else pairs
            keep_trend(run, lv.label, pairs, list(zip(flagged["product"], flagged["event"])) if len(flagged) else [],
                       level=lv, version=version, scope=scope, level_pts=level_pts[lv.label])
        group_run = run_signals(session, now, strata=sr.strata, groups=groups, meddra_version=version,
                                product_scope=scope, prior_from=pt_run, data_lock_point=dlp,
                                listed=_listedness(rows, labelled, None, groups))
        gpairs = _pairs_frame(session, group_run.id if group_run else None).assign(
            run_id=group_run.id if group_run else None)
        group_frames.append(gpairs)
        run_ids += [group_run.id] if group_run else []
        keep_trend(group_run, "group", gpairs, list(zip(gpairs["product"], gpairs["event"])) if len(gpairs) else [],
                   groups=groups, version=version, scope=scope)
    level_pairs = [LevelPairs(lv, pd.concat(frames[lv.label], ignore_index=True), level_pts[lv.label] or {})
                   for lv in levels]
    group_pairs = pd.concat(group_frames, ignore_index=True) if group_frames else pd.DataFrame()
    # DME trends are keyed by the alert's level label ("group" in the pairs, "dme" in keys): same rows.
    suppressed: list[dict] = []
    specs = signal_specs(rows, level_pairs, group_pairs, groups, sr, version, trends, suppressed)
    counts = apply_specs(session, specs, sr, now)
    counts["closed_as_listed"] = close_listed(session, suppressed, now)
    return {"runs": run_ids, "pairs": sum(len(lp.pairs) for lp in level_pairs), "flagged": len(specs),
            "meddra_version": version, "levels": [lv.label for lv in levels], "skipped_levels": skipped,
            "group_problems": group_problems, "data_lock_point": dlp.isoformat(),
            "listed_not_raised": len(suppressed), "trend_rows": trend_rows, **counts}


def close_listed(session: Session, suppressed: list[dict], now: dt.datetime) -> int:
    """An unreviewed signal alert (status new) of a pair now held back as listed closes as
    `listed_in_label`; one a person has taken up stays with them, marked listed."""
    if not suppressed:
        return 0
    by_key = {s["key"]: s for s in suppressed}
    closed = 0
    for alert in session.exec(select(Alert).where(Alert.type == "signal", Alert.key.in_(list(by_key)))):
        alert.detail = {**alert.detail, "listed": True}
        if alert.status == "new" and compare_and_set(session, alert, "new", status="closed", resolved_at=now,
                                                     resolution="listed_in_label"):
            log_event(session, alert, now, "auto_resolved", "new", "closed",
                      "the event is listed in the product's label and no listed-event rule holds")
            closed += 1
        session.add(alert)
    session.flush()
    return closed
