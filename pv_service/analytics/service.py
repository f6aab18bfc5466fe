"""Assemble the analyses of one product's cohort: the answers of the API, the page and the export.

Pure given a ``ProductCohort`` (queries.load_cohort) and the rules: every figure comes from the
statistics modules; this layer picks episodes, events and strata.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pv_service.analytics import incidence as inc
from pv_service.analytics.groups import EventGroup, event_groups, members
from pv_service.analytics.persontime import attained_age_split, time_at_risk
from pv_service.analytics.queries import ProductCohort

STRATA = ("indication", "infusion_year", "clinic", "sex", "age_band")
_STRATUM_COLUMN = {"clinic": "clinic_id"}
RATE_PER = 100.0  # rates per 100 patient-years


class AnalyticsInputError(ValueError):
    """A request the analyses cannot answer (the API turns it into a 422 naming the field)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Selection:
    """Which patients and events: infusion period, event groups."""
    groups: tuple[EventGroup, ...]
    infusion_from: dt.date | None = None
    infusion_to: dt.date | None = None


def resolve_groups(conn, rules, modality: str, names: list[str] | None, pts: list[str] | None) -> tuple[EventGroup, ...]:
    """The requested groups (by name; unknown names are an error), a group of the given
    PT codes, or by default every rule group for the product's modality."""
    from pv_service.analytics.groups import pt_code_group

    available = {g.name: g for g in event_groups(conn, rules)}
    out: list[EventGroup] = []
    for n in names or []:
        if n not in available:
            raise AnalyticsInputError("event_group", f"unknown event group {n!r}; one of {sorted(available)}")
        out.append(available[n])
    if pts:
        g = pt_code_group(conn, pts)
        if not g.pt_codes:
            raise AnalyticsInputError("pt", "give at least one PT code")
        out.append(g)
    return tuple(out) if out else tuple(g for g in available.values() if modality in g.modalities)


def select_episodes(cohort: ProductCohort, sel: Selection) -> pd.DataFrame:
    ep = cohort.episodes
    if sel.infusion_from is not None:
        ep = ep[ep["start"] >= pd.Timestamp(sel.infusion_from)]
    if sel.infusion_to is not None:
        ep = ep[ep["start"] <= pd.Timestamp(sel.infusion_to)]
    return ep.reset_index(drop=True)


def group_events(cohort: ProductCohort, group: EventGroup, missing_onset: str) -> pd.DataFrame:
    """patient_id, onset of the group's reactions (a missing onset per the rules)."""
    r = cohort.reactions[members(cohort.reactions, group)]
    onset = r["onset_date"]
    if missing_onset == "first_received":
        onset = onset.fillna(r["first_received"])
    return pd.DataFrame({"patient_id": r["patient_id"].to_numpy(), "onset": onset.to_numpy()}).dropna()


def at_risk(cohort: ProductCohort, sel: Selection, group: EventGroup, rules) -> pd.DataFrame:
    """The episodes' time at risk against one group (cached on the cohort: every analysis starts here)."""
    missing = rules.analytics.person_time.missing_onset
    key = (group.pt_codes, sel.infusion_from, sel.infusion_to, missing)
    if key not in cohort.cache:
        cohort.cache[key] = time_at_risk(select_episodes(cohort, sel), group_events(cohort, group, missing))
    return cohort.cache[key]


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 6)
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return None if pd.isna(v) else v.date().isoformat()
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v


def _strata_rows(tar: pd.DataFrame, by: tuple[str, ...], bands, level: float) -> pd.DataFrame:
    if "age_band" in by:
        pieces = attained_age_split(tar, bands)
        base = tar.iloc[pieces["row"].to_numpy()].reset_index(drop=True)
        frame = base.assign(days=pieces["days"].to_numpy(), events=pieces["events"].to_numpy(),
                            age_band=pieces["age_band"].to_numpy())
    else:
        frame = tar
    cols = [_STRATUM_COLUMN.get(b, b) for b in by]
    table = inc.rate_table(frame, cols, level, RATE_PER)
    return table.rename(columns={v: k for k, v in _STRATUM_COLUMN.items()})


def standardised(tar: pd.DataFrame, background, level: float) -> dict | None:
    """SIR of the episodes against a background rate (None without one)."""
    if background is None or tar.empty:
        return None
    pieces = attained_age_split(tar, background.age_bands)
    sex = tar["sex"].to_numpy(dtype=object)[pieces["row"].to_numpy()]
    expected = float(inc.expected_events(pieces, sex, background).sum())
    observed = int((tar["status"] == 1).sum())
    return {**inc.sir(observed, expected, level), "background_source": background.source}


def incidence(cohort: ProductCohort, rules, sel: Selection, by: tuple[str, ...] = ()) -> dict:
    ar = rules.analytics
    level = ar.confidence_level
    out = []
    for g in sel.groups:
        tar = at_risk(cohort, sel, g, rules)
        overall = inc.rate_table(tar, (), level, RATE_PER)
        strata = _strata_rows(tar, by, ar.age_bands, level) if by else None
        out.append({
            "event_group": g.name, "kind": g.kind, **g.described(),
            **_records(overall)[0],
            "strata": _records(strata) if strata is not None else [],
            "sir": standardised(tar, rules.background_rates.for_group(g.name), level),
        })
        if out[-1]["sir"] is None:
            out[-1]["sir_unavailable"] = rules.background_rates.why_none(g.name)
    return {"product": _product(cohort), "as_of": cohort.as_of.isoformat(), "per_patient_years": RATE_PER,
            "confidence_level": level, "by": list(by), "groups": out}


def _product(cohort: ProductCohort) -> dict:
    p = cohort.product
    return {"id": p.id, "code": p.code, "trade_name": p.trade_name, "modality": p.modality}


METHOD_NOTE = {
    "aalen_johansen": "Aalen-Johansen, death as a competing risk",
    "kaplan_meier": "1 - Kaplan-Meier: no competing death in this cohort",
}


def _curve_points(curve: pd.DataFrame, max_points: int = 400) -> list[dict]:
    """The curve at its steps (event times), thinned to at most ``max_points`` rows for display."""
    steps = curve[(curve["n_events"] > 0) | (curve.index == len(curve) - 1)]
    if len(steps) > max_points:
        keep = np.unique(np.linspace(0, len(steps) - 1, max_points).round().astype(int))
        steps = steps.iloc[keep]
    return [{"time_days": float(r.time), "estimate": float(r.estimate), "lower": float(r.lower),
             "upper": float(r.upper), "n_at_risk": int(r.n_at_risk)} for r in steps.itertuples(index=False)]


def cumulative(cohort: ProductCohort, rules, sel: Selection) -> dict:
    from pv_service.analytics.cumulative import cumulative_incidence, value_at
    from pv_service.analytics.persontime import DAYS_PER_YEAR

    ar = rules.analytics
    out = []
    for g in sel.groups:
        tar = at_risk(cohort, sel, g, rules)
        if tar.empty:
            out.append({"event_group": g.name, "kind": g.kind, "method": None, "patients": 0, "events": 0,
                        "competing_deaths": 0, "at_years": [], "curve": []})
            continue
        method, curve = cumulative_incidence(tar["days"].to_numpy(), tar["status"].to_numpy(), ar.confidence_level)
        at_years = []
        for y in ar.cumulative_incidence_years:
            v = value_at(curve, y * DAYS_PER_YEAR)
            at_years.append({"years": y, **(v or {"estimate": None, "lower": None, "upper": None, "n_at_risk": 0})})
        out.append({"event_group": g.name, "kind": g.kind, "method": method, "method_label": METHOD_NOTE[method],
                    "patients": len(tar), "events": int((tar["status"] == 1).sum()),
                    "competing_deaths": int((tar["status"] == 2).sum()), "at_years": at_years,
                    "curve": _curve_points(curve)})
    return {"product": _product(cohort), "as_of": cohort.as_of.isoformat(), "confidence_level": ar.confidence_level,
            "groups": out}


def case_onsets(cohort: ProductCohort, group: EventGroup) -> np.ndarray:
    """Days from the suspect infusion of the product to each reported onset of the group (VigiBase-style:
    every reported reaction with both dates, onset not before infusion)."""
    r = cohort.reactions[members(cohort.reactions, group)]
    r = r[r["onset_date"].notna() & r["suspect_infusion"].notna()]
    days = (r["onset_date"] - r["suspect_infusion"]).dt.days.to_numpy()
    return days[days >= 0]


def time_to_onset(cohort: ProductCohort, rules, sel: Selection) -> dict:
    from pv_service.analytics.onset import by_period, summary, weibull_shape

    ar = rules.analytics
    out = []
    for g in sel.groups:
        tar = at_risk(cohort, sel, g, rules)
        ev = tar["status"].to_numpy() == 1
        days = tar["days"].to_numpy()
        cases = case_onsets(cohort, g)
        out.append({
            "event_group": g.name, "kind": g.kind,
            "cohort": {**summary(days[ev]), "periods": by_period(days[ev], ar.onset_periods),
                       # censored fit: the patients without the event count until their follow-up ends
                       "weibull": weibull_shape(days, ev, ar.confidence_level) if len(days) else None},
            "cases": {**summary(cases), "periods": by_period(cases, ar.onset_periods),
                      "weibull": weibull_shape(cases, None, ar.confidence_level) if len(cases) else None},
        })
    return {"product": _product(cohort), "as_of": cohort.as_of.isoformat(), "confidence_level": ar.confidence_level,
            "groups": out}


def sequential_look(cohort: ProductCohort, rules, group: EventGroup, background) -> dict:
    """The Poisson MaxSPRT of one group as of the cohort's as-of date: observed and expected counts
    (background rates by attained age band and sex over the accrued person-time), the LLR at every
    event and now, against the exact critical value of the rules' alpha, T and M."""
    from pv_service.analytics.incidence import accrued
    from pv_service.analytics.maxsprt import critical_value, monitor
    from pv_service.analytics.persontime import DAYS_PER_YEAR, day_numbers

    sr = rules.analytics.sequential
    tar = at_risk(cohort, Selection(groups=(group,)), group, rules)
    cv = critical_value(sr.surveillance_expected, sr.alpha, sr.min_events)
    if tar.empty:
        return {"event_group": group.name, "person_years": 0.0, "background_source": background.source,
                "alpha": sr.alpha, "surveillance_expected": sr.surveillance_expected, "min_events": sr.min_events,
                **monitor([], 0.0, 0, cv, sr.surveillance_expected, sr.min_events), "first_signal_date": None}
    pieces = attained_age_split(tar, background.age_bands)
    rows = pieces["row"].to_numpy()
    sex = tar["sex"].to_numpy(dtype=object)[rows]
    per_piece = inc.expected_events(pieces, sex, background)
    rate_per_day = np.divide(per_piece, pieces["days"].to_numpy(), out=np.zeros_like(per_piece),
                             where=pieces["days"].to_numpy() > 0)
    start = day_numbers(tar["start"]).astype(float)[rows] + pieces["offset"].to_numpy()
    ev = tar[tar["status"] == 1].sort_values("event_date", kind="stable")
    ev_days = day_numbers(ev["event_date"]).astype(float)
    at_events = accrued(start, pieces["days"].to_numpy(), rate_per_day, ev_days)
    expected_now = float(per_piece.sum())
    result = monitor(at_events, expected_now, len(ev), cv, sr.surveillance_expected, sr.min_events)
    first = result["signal_event"]
    return {"event_group": group.name, "person_years": float(tar["days"].sum() / DAYS_PER_YEAR),
            "background_source": background.source, "alpha": sr.alpha,
            "surveillance_expected": sr.surveillance_expected, "min_events": sr.min_events, **result,
            "first_signal_date": None if first is None else ev["event_date"].iloc[first - 1].date().isoformat()}


def monitored_groups(groups: list[EventGroup], rules) -> list[tuple[EventGroup, object]]:
    """Those of the product's groups that have a background rate (those the sequential test can run on)."""
    out = []
    for g in groups:
        bg = rules.background_rates.for_group(g.name)
        if bg is not None:
            out.append((g, bg))
    return out


LOT_COLUMNS = {"lot": "batch_number", "vector_lot": "vector_lot", "manufacturing_site": "manufacturing_site"}


def lot_analysis(cohort: ProductCohort, rules, group: EventGroup, column: str = "batch_number",
                 sel: Selection | None = None) -> dict:
    from pv_service.analytics.lots import lot_excess
    from pv_service.analytics.persontime import DAYS_PER_YEAR

    lr = rules.analytics.lots
    tar = at_risk(cohort, sel or Selection(groups=(group,)), group, rules)
    recorded = tar[tar[column].notna()] if column in tar else tar.iloc[0:0]
    if recorded.empty:
        return {"event_group": group.name, "kind": group.kind, "by": column, "lots": [], "events": 0,
                "patients_without_lot": int(len(tar))}
    per = (recorded.assign(ev=(recorded["status"] == 1).astype(np.int64))
           .groupby(column, observed=True).agg(patients=("days", "size"), events=("ev", "sum"), days=("days", "sum"))
           .reset_index().rename(columns={column: "lot"}))
    res = lot_excess(per, lr.alpha, lr.multiplicity, lr.min_events)
    res["person_years"] = res["days"] / DAYS_PER_YEAR
    rows = [{"lot": str(r.lot), "patients": int(r.patients), "observed": int(r.events),
             "person_years": float(r.person_years), "expected": float(r.expected),
             # None: events in no time at risk, not estimable (lots.lot_excess)
             "p_value": None if np.isnan(r.p_value) else float(r.p_value),
             "p_adjusted": None if np.isnan(r.p_adjusted) else float(r.p_adjusted), "flagged": bool(r.flagged)}
            for r in res.itertuples(index=False)]
    return {"event_group": group.name, "kind": group.kind, "by": column, "events": int(per["events"].sum()),
            "patients_without_lot": int(len(tar) - len(recorded)), "lots": rows}


def lots(cohort: ProductCohort, rules, sel: Selection, by: str, limit: int) -> dict:
    lr = rules.analytics.lots
    column = LOT_COLUMNS[by]
    out = []
    for g in sel.groups:
        res = lot_analysis(cohort, rules, g, column, sel)
        res["flagged"] = sum(r["flagged"] for r in res["lots"])
        res["lots_total"] = len(res["lots"])
        res["lots"] = res["lots"][:limit]  # most significant first
        out.append(res)
    return {"product": _product(cohort), "as_of": cohort.as_of.isoformat(), "alpha": lr.alpha,
            "multiplicity": lr.multiplicity, "min_events": lr.min_events, "by": by, "groups": out}


def sequential(cohort: ProductCohort, rules, groups: list[EventGroup], looks: list[dict],
               names: list[str] | None) -> dict:
    """The current look per monitored group (computed now, not stored) and the stored looks of the job."""
    current = []
    for g, bg in monitored_groups(groups, rules):
        if names and g.name not in names:
            continue
        current.append(sequential_look(cohort, rules, g, bg))
    return {"product": _product(cohort), "as_of": cohort.as_of.isoformat(), "current": current, "looks": looks}


def product_class(product) -> str:
    """Modality and target, e.g. "car_t CD19": products compared with their peers."""
    return f"{product.modality} {product.target}" if getattr(product, "target", None) else product.modality


def incidence_across(cohorts: list[ProductCohort], rules, sel: Selection, by: str) -> dict:
    """Rates of the selected groups per product, or pooled per product class (episodes of all the
    class's products: a patient treated with two of them counts in each)."""
    level = rules.analytics.confidence_level
    out = []
    for g in sel.groups:
        frames = []
        for c in cohorts:
            tar = at_risk(c, sel, g, rules)
            frames.append(tar.assign(product=c.product.code, product_class=product_class(c.product)))
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if rows.empty:
            table = []
        else:
            t = inc.rate_table(rows, [by], level, RATE_PER)
            if by == "product":
                t["product_class"] = t["product"].map(dict(zip(rows["product"], rows["product_class"])))
            table = _records(t)
        out.append({"event_group": g.name, "kind": g.kind, **g.described(), "rows": table})
    return {"as_of": cohorts[0].as_of.isoformat() if cohorts else None, "by": by, "per_patient_years": RATE_PER,
            "confidence_level": level, "products": [c.product.code for c in cohorts], "groups": out}
