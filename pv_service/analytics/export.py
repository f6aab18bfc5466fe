"""The cohort analytics tables of the MAH compliance export: one product's figures as tidy frames
(the same numbers as the API and the page, cumulative up to the as-of date)."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from pv_service.analytics import service
from pv_service.analytics.queries import load_cohort

COHORT_TABLES: dict[str, tuple[str, ...]] = {
    "cohort_incidence": ("product", "event_group", "kind", "patients", "events", "person_years", "rate_per_100py",
                         "rate_lower", "rate_upper", "sir", "sir_lower", "sir_upper", "expected"),
    "cohort_cumulative": ("product", "event_group", "method", "years", "estimate", "lower", "upper", "n_at_risk"),
    "cohort_onset": ("product", "event_group", "source", "n", "median_days", "q1_days", "q3_days", "weibull_shape",
                     "shape_lower", "shape_upper", "hazard"),
    "cohort_sequential": ("product", "event_group", "observed", "expected", "llr", "max_llr", "critical_value",
                          "alpha", "surveillance_expected", "min_events", "signalled", "first_signal_date"),
    "cohort_lots": ("product", "event_group", "lot", "patients", "observed", "expected", "p_value", "p_adjusted",
                    "flagged"),
}


def _frame(name: str, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COHORT_TABLES[name][1:]))


def cohort_tables(session, product, rules, as_of: dt.date) -> dict[str, pd.DataFrame]:
    cohort = load_cohort(session, product, rules, as_of)
    if cohort.episodes.empty:
        return {name: _frame(name, []) for name in COHORT_TABLES}
    sel = service.Selection(groups=service.resolve_groups(session.connection(), rules, product.modality, None, None))
    inc = service.incidence(cohort, rules, sel)
    incidence = [{"event_group": g["event_group"], "kind": g["kind"], "patients": g["patients"], "events": g["events"],
                  "person_years": g["person_years"], "rate_per_100py": g["rate"], "rate_lower": g["rate_lower"],
                  "rate_upper": g["rate_upper"], "sir": (g["sir"] or {}).get("sir"),
                  "sir_lower": (g["sir"] or {}).get("sir_lower"), "sir_upper": (g["sir"] or {}).get("sir_upper"),
                  "expected": (g["sir"] or {}).get("expected")} for g in inc["groups"]]
    cumulative = [{"event_group": g["event_group"], "method": g["method"], "years": v["years"],
                   "estimate": v["estimate"], "lower": v["lower"], "upper": v["upper"], "n_at_risk": v["n_at_risk"]}
                  for g in service.cumulative(cohort, rules, sel)["groups"] if g["events"] for v in g["at_years"]]
    onset = []
    for g in service.time_to_onset(cohort, rules, sel)["groups"]:
        for source in ("cohort", "cases"):
            s = g[source]
            if not s["n"]:
                continue
            w = s["weibull"] or {}
            onset.append({"event_group": g["event_group"], "source": source, "n": s["n"],
                          "median_days": s["median_days"], "q1_days": s["q1_days"], "q3_days": s["q3_days"],
                          "weibull_shape": w.get("shape"), "shape_lower": w.get("shape_lower"),
                          "shape_upper": w.get("shape_upper"), "hazard": w.get("hazard")})
    sequential = [{k: look[k] for k in COHORT_TABLES["cohort_sequential"][1:]}
                  for look in service.sequential(cohort, rules, list(sel.groups), [], None)["current"]]
    lots = []
    for g in service.lots(cohort, rules, sel, "lot", 10_000)["groups"]:
        lots += [{"event_group": g["event_group"], **{k: lot[k] for k in COHORT_TABLES["cohort_lots"][2:]},
                  "lot": lot["lot"]} for lot in g["lots"] if lot["observed"] > 0]
    return {"cohort_incidence": _frame("cohort_incidence", incidence),
            "cohort_cumulative": _frame("cohort_cumulative", cumulative),
            "cohort_onset": _frame("cohort_onset", onset),
            "cohort_sequential": _frame("cohort_sequential", sequential),
            "cohort_lots": _frame("cohort_lots", lots)}
