"""The compliance summary of a product for its marketing authorization holder. Pure.

``build_summary`` takes raw frames per product (``ProductInputs``, read by
``queries.load_product_inputs``), the validated rules and the dates, runs the engines
(follow-up compliance, reporting clocks, obligation deadlines) and returns plain tables:
``ComplianceSummary.tables`` maps a table name to a tidy DataFrame whose first column is
the product code. Renderers (JSON, CSV, Excel, PDF) only format these tables.

The definitions behind every figure are in ``NOTES`` and travel with each export.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pv_service.alerting.workflow import SIGNAL_TYPE, is_open
from pv_service.analytics.export import COHORT_TABLES
from pv_service.cases.reporting_clock import evaluate_reporting_clocks
from pv_service.common.vocab import SERIOUSNESS_CRITERIA
from pv_service.exports import labels
from pv_service.exports.survival import kaplan_meier, survival_at
from pv_service.followup.compliance import (
    PATIENT_STATUSES,
    TIMEPOINT_STATUSES,
    evaluate_compliance,
)
from pv_service.products.deadlines import evaluate_obligations

UNMAPPED_SOC = "Unmapped SOC"
DAYS_PER_MONTH = 365.25 / 12
RETENTION_YEARS = (1, 2, 5)
SCREENING_DONE = ("negative", "positive", "indeterminate")
SETTLED = ("completed_on_time", "completed_late", "missed")
PENDING = ("pending", "pending_overdue")

NOTES = (
    "Interval: start to end, both days included. 'In interval' figures count what is dated in it "
    "(infusion, visit, timepoint due date, case first received); cumulative figures count everything "
    "up to the as-of date.",
    "Patient status as of the as-of date from the follow-up compliance engine, as the service's compliance "
    "view reports it: one status per patient from their treatments with this product (a death, withdrawal "
    "or transfer recorded under another product still ends them); a fatal case outcome counts as a death.",
    "Timepoint completeness: every scheduled timepoint of the product's treatments as of the as-of date. "
    "Completion = (completed on time + completed late) / (completed + missed); on-time completion = "
    "completed on time / (completed + missed); open, overdue and not-yet-due timepoints are left out of both. "
    "Timepoints falling after a death, withdrawal or transfer are not expected and not counted.",
    "Retention: Kaplan-Meier estimate of the time from the patient's first infusion of the product to "
    "loss to follow-up. Event: lost to follow-up, dated at the patient's last visit (the infusion date "
    "if none). Censored: deceased, withdrawn and transferred patients at their stop date; active and "
    "completed patients at the as-of date. Retention at N years is the estimate at N x 365 days, blank "
    "when no patient was followed that long.",
    "Median follow-up: the simple median (not reverse Kaplan-Meier) of every treated patient's observed "
    "follow-up (first infusion to the event or censoring date above), in months of 30.4375 days. "
    "Patient-years: the sum of those times / 365.25.",
    "Malignancy screening coverage. Visits: visits dated in the interval that record a malignancy "
    "screening (negative, positive or indeterminate) / all visits dated in the interval. Yearly "
    "timepoints: yearly timepoints (offset a whole number of years, lifelong contacts included) whose plan "
    "requires malignancy screening, due in the interval and settled (completed or missed), whose visit "
    "recorded a screening / all such timepoints (a missed one counts as not screened). Blank when the "
    "product's follow-up plan has no malignancy screening.",
    "Cases: reports whose latest version names the product as suspect or interacting, by the date first "
    "received (E2B C.1.4). Seriousness and reactions from the latest version as stored today (not as it "
    "stood on the as-of date). A case counts once per seriousness criterion it meets; death includes a "
    "fatal outcome.",
    f"System organ class: a coded reaction's primary SOC in its MedDRA version. Reactions without one (no "
    f"dictionary loaded when they were received) are mapped by the service's demonstration term list; terms "
    f"not in it are under '{UNMAPPED_SOC}'. A case counts once per SOC it has a reaction in.",
    "Designated medical events: the designated-medical-event groups of the signal rules for the "
    "product's modality, matched by MedDRA PT code (HLT and SMQ references resolved in the newest loaded "
    "version), listed cumulatively; the tables mark the cases first received in the interval.",
    "Signals: signal alerts of the product raised by the as-of date, with their workflow status today. "
    "Open: new, validation, validated, assessment, confirmed, not confirmed, refuted; closed: closed.",
    "Expedited reports: one per case and regulator that approved the product, for cases first received in "
    "the interval, status as of the as-of date by the reporting-clock rules (a case is unexpected unless "
    "every reaction is listed in the product's label for that regulator in force at receipt). On time (%) = on time / (on time + late). Reports not yet submitted (pending, or pending "
    "and overdue) are left out of the percentage and listed as pending reports.",
    "Obligations: confirmatory-trial obligations and their milestones as of the as-of date, by the "
    "obligation deadline rules. Days remaining are given for open obligations, days overdue for overdue ones.",
    "Cohort analytics (the cohort tables and page), cumulative to the as-of date, from the follow-up cohort: time "
    "at risk from the patient's first infusion of the product to the first event of the group, death, withdrawal, "
    "transfer, loss to follow-up (last contact, a case report included) or the as-of date, by the analytics rules. "
    "Event groups: the designated medical events and adverse events of special interest of the product's "
    "modality, by MedDRA PT code (HLT and SMQ references resolved in the newest loaded version), from every "
    "case about the patient. Incidence per 100 patient-years with "
    "exact (Garwood) limits; standardised incidence ratio against the background rates of the rules (each names "
    "its source) by attained age band and sex. Cumulative incidence: Aalen-Johansen with death as a competing "
    "risk, or 1 - Kaplan-Meier where no patient died without the event (the method is given). Time to onset: days "
    "from infusion; a Weibull shape below 1 means a falling hazard, above 1 a rising one. Sequential monitoring: "
    "Poisson MaxSPRT (Kulldorff et al. 2011) with exact critical values. Lots: lots with at least one event, "
    "observed against expected from the lot's share of person-time, exact one-sided binomial p-values adjusted "
    "across the product's lots.",
)

TABLES: dict[str, tuple[str, ...]] = {
    "products": ("product", "trade_name", "inn", "modality", "modality_label", "target", "mah", "followup_plan",
                 "followup_plan_label", "approvals"),
    "key_figures": ("product", "section", "figure", "label", "value"),
    "timepoints": ("product", "label", *TIMEPOINT_STATUSES, "due", "completion_pct", "on_time_pct"),
    "retention": ("product", "time_days", "time_months", "n_at_risk", "n_events", "n_censored", "survival"),
    "cases_by_seriousness": ("product", "group", "category", "n_cases"),
    "cases_by_soc": ("product", "soc", "n_cases", "n_serious_cases", "n_reactions"),
    "reports_by_quarter": ("product", "quarter", "quarter_start", "n_cases", "n_serious", "cumulative_cases",
                           "cumulative_serious"),
    "dme_cases": ("product", "group", "case_id", "sender_case_id", "pt_name", "onset_date", "outcome", "serious",
                  "transgene_in_tumour", "first_received", "in_interval"),
    "signals": ("product", "alert_id", "event", "level", "rule", "n", "status", "state", "severity", "priority",
                "first_raised", "resolved", "resolution"),
    "obligations": ("product", "obligation_id", "jurisdiction", "description", "due_date", "status",
                    "days_remaining", "days_overdue", "fulfilled_date", "next_milestone", "milestones_overdue"),
    "milestones": ("product", "obligation_id", "kind", "planned_date", "achieved_date", "status", "days_remaining"),
    "expedited_reports": ("product", "case_id", "jurisdiction", "first_received", "clock_days", "due_date",
                          "submitted_date", "status", "days_late", "days_remaining"),
    "pending_reports": ("product", "case_id", "jurisdiction", "first_received", "due_date", "status",
                        "days_remaining", "days_late"),
    **COHORT_TABLES,
}
INT_COLUMNS = frozenset({"patients", "events", "observed", "n_at_risk", "min_events", "n", "days_remaining", "days_overdue", "days_late", "clock_days", "milestones_overdue",
                         "obligation_id", "alert_id", "case_id"})
DATE_COLUMNS = frozenset({"quarter_start", "onset_date", "first_received", "first_raised", "resolved", "due_date",
                          "fulfilled_date", "planned_date", "achieved_date", "submitted_date"})


@dataclass(frozen=True)
class ProductInputs:
    """Raw frames of one product (see queries.load_product_inputs for the columns)."""
    product: dict[str, Any]
    treatments: pd.DataFrame  # every treatment of the product's patients (load_treatments), infused by the as-of date
    contacts: pd.DataFrame  # their contacts by the as-of date (followup.cohort.load_contacts)
    visits: pd.DataFrame  # contact_id, treatment_id, contact_date, malignancy_screening: visits of the product's treatments
    cases: pd.DataFrame  # case_id, sender_case_id, patient_id, first_received, serious, transgene_in_tumour
    reactions: pd.DataFrame  # case_id, pt_code, pt_name, soc_name (coded), onset_date, outcome, <seriousness criteria>
    clock_cases: pd.DataFrame  # cases.clocks.clock_cases rows (case, jurisdiction)
    obligations: pd.DataFrame  # obligation_id, jurisdiction, description, due_date
    milestones: pd.DataFrame  # obligation_id, kind, planned_date, achieved_date
    alerts: pd.DataFrame  # signal alerts: alert_id, event, level, rule, n, status, severity, priority, ...
    cohort: dict[str, pd.DataFrame] = field(default_factory=dict)  # the cohort_* tables (analytics.export)


@dataclass(frozen=True)
class ComplianceSummary:
    as_of: dt.date
    start: dt.date
    end: dt.date
    tables: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = field(default=NOTES)

    @property
    def product_codes(self) -> list[str]:
        return self.tables["products"]["product"].tolist()

    def table(self, name: str, product: str | None = None) -> pd.DataFrame:
        t = self.tables[name]
        return t if product is None else t[t["product"] == product].drop(columns="product").reset_index(drop=True)

    def about(self) -> pd.DataFrame:
        """The period and the definitions, as a two-column table (item, text)."""
        rows = [("as_of", self.as_of.isoformat()), ("start", self.start.isoformat()), ("end", self.end.isoformat())]
        rows += [(f"note {i}", n) for i, n in enumerate(self.notes, 1)]
        return pd.DataFrame(rows, columns=["item", "text"])

    def key_figures(self, product: str) -> dict[str, dict[str, Any]]:
        """{section: {figure: value}} of one product."""
        out: dict[str, dict[str, Any]] = {}
        for rec in self.table("key_figures", product).itertuples(index=False):
            out.setdefault(rec.section, {})[rec.figure] = rec.value
        return out


class PeriodError(ValueError):
    """An inconsistent reporting period; ``field`` names the offending date (start or end)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def default_start(as_of: dt.date) -> dt.date:
    """First day of the 12 months ending at ``as_of`` (2026-11-23 -> 2025-11-24; 29 Feb -> 1 Mar).

    No loop: the day is clamped to the length of the month a year before."""
    year = as_of.year - 1
    if year < dt.MINYEAR:
        raise PeriodError("end", f"no 12-month period ends at {as_of}: give start")
    day = min(as_of.day, calendar.monthrange(year, as_of.month)[1])
    return dt.date(year, as_of.month, day) + dt.timedelta(days=1)


def resolve_period(as_of: dt.date, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    end = end or as_of
    start = start or default_start(end)
    if end > as_of:
        raise PeriodError("end", f"end {end} is after the as-of date {as_of}")
    if start > end:
        raise PeriodError("start", f"start {start} is after end {end}")
    return start, end


# ----------------------------------------------------------------------------- helpers
def _pct(num: float, den: float) -> float | None:
    return None if not den else round(100.0 * num / den, 1)


def _ts(d: dt.date) -> pd.Timestamp:
    return pd.Timestamp(d)


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).astype("datetime64[s]") if len(s) else pd.Series(s, dtype="datetime64[s]")


def _between(s: pd.Series, start: dt.date, end: dt.date) -> pd.Series:
    d = _dates(s)
    return (d >= _ts(start)) & (d <= _ts(end))


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLES[name][1:]})


def _int_or_none(v) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


# ----------------------------------------------------------------------------- follow-up
def _screening_labels(plan) -> tuple[set[str], set[str], bool]:
    """(listed labels, listed yearly labels requiring malignancy screening, lifelong contacts require it)."""
    listed = {tp.label for tp in plan.timepoints}
    yearly = {tp.label for tp in plan.timepoints
              if tp.offset.is_whole_years and "malignancy_screening" in tp.assessments}
    lc = plan.lifelong_contact
    return listed, yearly, lc is not None and "malignancy_screening" in lc.assessments


def _plan_screens(plan) -> bool:
    lc = plan.lifelong_contact
    return any("malignancy_screening" in tp.assessments for tp in plan.timepoints) or (
        lc is not None and "malignancy_screening" in lc.assessments)


def _followup(inp: ProductInputs, rules, as_of: dt.date, start: dt.date, end: dt.date):
    pid = inp.product["product_id"]
    tr = inp.treatments
    own = tr[tr["product_id"] == pid]
    fig: dict[str, Any] = {"patients_treated": 0, "patients_first_treated_in_interval": 0}
    fig |= {f"patients_{s}": 0 for s in PATIENT_STATUSES}
    fig |= {"timepoints_due_in_interval": 0} | {f"interval_{s}": 0 for s in TIMEPOINT_STATUSES}
    fig |= {"interval_completion_pct": None, "interval_on_time_pct": None}
    fig |= {f"retention_{y}y_pct": None for y in RETENTION_YEARS}
    fig |= {"median_followup_months": None, "patient_years": 0.0, "visits_in_interval": 0,
            "malignancy_screening_visits_pct": None, "yearly_timepoints_screening_due": 0,
            "malignancy_screening_yearly_pct": None, "malignancy_screening_positive_in_interval": 0}
    if own.empty:
        return fig, _empty("timepoints"), _empty("retention")

    result = evaluate_compliance(tr, inp.contacts, rules, as_of, shown=own["treatment_id"])
    first_inf = _dates(own["infusion_date"]).groupby(own["patient_id"].to_numpy()).min()
    pats = result.patients.set_index("patient_id").loc[first_inf.index]
    fig["patients_treated"] = len(pats)
    fig["patients_first_treated_in_interval"] = int(((first_inf >= _ts(start)) & (first_inf <= _ts(end))).sum())
    for s, n in pats["status"].value_counts().items():
        fig[f"patients_{s}"] = int(n)

    # timepoint completeness, per label (cumulative) and due in the interval
    tps = result.timepoints[result.timepoints["treatment_id"].isin(own["treatment_id"])]
    counts = (tps.groupby(["label", "status"], observed=True).size().unstack(fill_value=0)
              .reindex(columns=list(TIMEPOINT_STATUSES), fill_value=0))
    order = tps.groupby("label", observed=True)["ordinal"].min().sort_values(kind="stable").index
    counts = counts.reindex(order).astype(np.int64)
    settled = counts[list(SETTLED)].sum(axis=1)
    done = counts["completed_on_time"] + counts["completed_late"]
    timepoints = counts.reset_index().rename(columns={"index": "label"})
    timepoints["label"] = timepoints["label"].astype(str)
    timepoints.columns.name = None
    timepoints["due"] = (counts.sum(axis=1) - counts["not_yet_due"]).to_numpy()
    timepoints["completion_pct"] = [_pct(a, b) for a, b in zip(done, settled)]
    timepoints["on_time_pct"] = [_pct(a, b) for a, b in zip(counts["completed_on_time"], settled)]

    in_int = tps[_between(tps["due_date"], start, end)]
    fig["timepoints_due_in_interval"] = len(in_int)
    for s, n in in_int["status"].value_counts().items():
        fig[f"interval_{s}"] = int(n)
    i_settled = sum(fig[f"interval_{s}"] for s in SETTLED)
    fig["interval_completion_pct"] = _pct(fig["interval_completed_on_time"] + fig["interval_completed_late"], i_settled)
    fig["interval_on_time_pct"] = _pct(fig["interval_completed_on_time"], i_settled)

    # retention (Kaplan-Meier) and follow-up time
    status = pats["status"].astype(str).to_numpy()
    lost = status == "lost_to_follow_up"
    stopped = np.isin(status, ("deceased", "withdrawn", "transferred"))
    origin = first_inf.to_numpy()
    last = pats["last_visit_date"].to_numpy().astype("datetime64[s]")
    last = np.where(np.isnat(last) | (last < origin), origin, last)
    stop = pats["stop_date"].to_numpy().astype("datetime64[s]")
    end_date = np.where(lost, last, np.where(stopped, stop, np.datetime64(as_of, "s")))
    duration = np.maximum((end_date - origin).astype("timedelta64[D]").astype(np.int64), 0)
    km = kaplan_meier(duration, lost)
    retention = pd.DataFrame({
        "time_days": km["time"].astype(np.int64), "time_months": (km["time"] / DAYS_PER_MONTH).round(2),
        "n_at_risk": km["n_at_risk"], "n_events": km["n_events"], "n_censored": km["n_censored"],
        "survival": km["survival"].round(6),
    })
    for y in RETENTION_YEARS:
        s = survival_at(km, 365 * y)
        fig[f"retention_{y}y_pct"] = None if s is None else round(100 * s, 1)
    fig["median_followup_months"] = round(float(np.median(duration)) / DAYS_PER_MONTH, 1)
    fig["patient_years"] = round(float(duration.sum()) / 365.25, 2)

    # malignancy screening coverage
    visits = inp.visits[_between(inp.visits["contact_date"], start, end)]
    screened = visits["malignancy_screening"].isin(SCREENING_DONE)
    fig["visits_in_interval"] = len(visits)
    fig["malignancy_screening_positive_in_interval"] = int((visits["malignancy_screening"] == "positive").sum())
    plan_name = inp.product.get("plan_name", inp.product["followup_plan"])
    plan = rules.followup.plans.get(plan_name) if plan_name else None
    if plan is not None and _plan_screens(plan):
        fig["malignancy_screening_visits_pct"] = _pct(int(screened.sum()), len(visits))
        listed, yearly, lifelong = _screening_labels(plan)
        labels = in_int["label"].astype(str)
        lc = plan.lifelong_contact
        required = {lab: lab in yearly or (lab not in listed and lifelong and lc.parse_label(lab) is not None)
                    for lab in labels.unique()}
        requires = labels.map(required).to_numpy(dtype=bool)
        due = in_int[requires & in_int["status"].isin(SETTLED).to_numpy()]
        screen_of = pd.Series(inp.visits["malignancy_screening"].to_numpy(), index=inp.visits["contact_id"].to_numpy())
        hit = due["contact_id"].map(screen_of).isin(SCREENING_DONE)
        fig["yearly_timepoints_screening_due"] = len(due)
        fig["malignancy_screening_yearly_pct"] = _pct(int(hit.sum()), len(due))
    return fig, timepoints, retention


# ----------------------------------------------------------------------------- safety
def _safety(inp: ProductInputs, rules, as_of: dt.date, start: dt.date, end: dt.date, soc_map: dict[str, str],
            dme_codes: dict[str, set[str]]):
    cases = inp.cases.copy()
    reactions = inp.reactions
    cases["first_received"] = _dates(cases["first_received"])
    cases["serious"] = cases["serious"].astype(bool)
    cases["in_interval"] = _between(cases["first_received"], start, end)
    flags = reactions[["case_id", *SERIOUSNESS_CRITERIA]].copy()
    flags["death"] = flags["death"].astype(bool) | (reactions["outcome"] == "fatal")
    per_case = flags.groupby("case_id")[list(SERIOUSNESS_CRITERIA)].any()
    interval = cases[cases["in_interval"]]
    crit = per_case.reindex(interval["case_id"]).fillna(False).astype(bool)

    n_serious = int(interval["serious"].sum())
    rows = [("total", "all", len(interval)), ("seriousness", "serious", n_serious),
            ("seriousness", "non_serious", len(interval) - n_serious)]
    rows += [("criterion", c, int(crit[c].sum())) for c in SERIOUSNESS_CRITERIA]
    by_seriousness = pd.DataFrame(rows, columns=["group", "category", "n_cases"])

    r_int = reactions[reactions["case_id"].isin(interval["case_id"])].copy()
    by_name = r_int["pt_name"].map(soc_map)
    coded = r_int["soc_name"] if "soc_name" in r_int else pd.Series(None, index=r_int.index, dtype=object)
    r_int["soc"] = coded.where(coded.notna(), by_name).fillna(UNMAPPED_SOC)
    r_int["serious"] = r_int["case_id"].map(dict(zip(interval["case_id"], interval["serious"]))).astype(bool)
    if r_int.empty:
        by_soc = _empty("cases_by_soc")
    else:
        by_soc = (r_int.groupby("soc").agg(n_cases=("case_id", "nunique"), n_reactions=("case_id", "size")).join(
            r_int[r_int["serious"]].groupby("soc")["case_id"].nunique().rename("n_serious_cases")).fillna(0)
            .astype(np.int64).reset_index())
        by_soc = by_soc.sort_values(["n_cases", "soc"], ascending=[False, True], kind="stable")[
            ["soc", "n_cases", "n_serious_cases", "n_reactions"]].reset_index(drop=True)

    quarters = _quarters(cases, as_of)

    modality = inp.product["modality"]
    dme_rows = []
    info = cases.set_index("case_id")
    for group in rules.signals.designated_medical_events:
        if modality not in group.modalities:
            continue
        hits = reactions[reactions["pt_code"].isin(dme_codes.get(group.name, ()))]  # by code, never by name
        for rec in hits.itertuples(index=False):
            c = info.loc[rec.case_id]
            dme_rows.append({
                "group": group.name, "case_id": int(rec.case_id), "sender_case_id": c["sender_case_id"],
                "pt_name": rec.pt_name, "onset_date": rec.onset_date, "outcome": rec.outcome,
                "serious": bool(c["serious"]), "transgene_in_tumour": c["transgene_in_tumour"],
                "first_received": c["first_received"], "in_interval": bool(c["in_interval"]),
            })
    dme = pd.DataFrame(dme_rows, columns=list(TABLES["dme_cases"][1:]))
    if not dme.empty:
        dme["onset_date"] = _dates(dme["onset_date"])
        dme = dme.sort_values(["first_received", "case_id", "pt_name"], kind="stable").reset_index(drop=True)

    alerts = inp.alerts.copy()
    if alerts.empty:
        signals = _empty("signals")
    else:
        alerts["state"] = ["open" if is_open(SIGNAL_TYPE, s) else "closed" for s in alerts["status"]]
        for src, dst in (("first_raised_at", "first_raised"), ("resolved_at", "resolved")):
            alerts[dst] = pd.to_datetime(alerts[src], utc=True).dt.tz_localize(None).dt.floor("D").astype("datetime64[s]")
        signals = alerts[list(TABLES["signals"][1:])].reset_index(drop=True)

    fig = {
        "cases_cumulative": len(cases), "cases_in_interval": len(interval), "cases_serious": n_serious,
        "cases_non_serious": len(interval) - n_serious, "cases_fatal": int(crit["death"].sum()),
        "dme_cases_cumulative": int(dme["case_id"].nunique()) if len(dme) else 0,
        "dme_cases_in_interval": int(dme.loc[dme["in_interval"], "case_id"].nunique()) if len(dme) else 0,
        "signals_open": int((signals["state"] == "open").sum()) if len(signals) else 0,
        "signals_closed": int((signals["state"] == "closed").sum()) if len(signals) else 0,
    }
    return fig, by_seriousness, by_soc, quarters, dme, signals


def _quarters(cases: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Reports per quarter of first receipt, from the first report's quarter to the as-of date's."""
    if cases.empty:
        return _empty("reports_by_quarter")
    q = cases["first_received"].dt.to_period("Q")
    span = pd.period_range(q.min(), pd.Period(as_of, freq="Q"), freq="Q")
    n = q.value_counts().reindex(span, fill_value=0)
    ns = q[cases["serious"].to_numpy()].value_counts().reindex(span, fill_value=0)
    return pd.DataFrame({
        "quarter": [str(p) for p in span],
        "quarter_start": span.start_time.astype("datetime64[s]"),
        "n_cases": n.to_numpy(np.int64), "n_serious": ns.to_numpy(np.int64),
        "cumulative_cases": n.cumsum().to_numpy(np.int64), "cumulative_serious": ns.cumsum().to_numpy(np.int64),
    })


# ----------------------------------------------------------------------------- obligations
def _obligations(inp: ProductInputs, rules, as_of: dt.date, start: dt.date, end: dt.date):
    fig: dict[str, Any] = {"obligations": len(inp.obligations), "obligations_open": 0, "obligations_overdue": 0,
                           "obligations_fulfilled": 0, "milestones_overdue": 0}
    if inp.obligations.empty:
        obligations, milestones = _empty("obligations"), _empty("milestones")
    else:
        res = evaluate_obligations(inp.obligations[["obligation_id", "due_date"]], inp.milestones, rules, as_of)
        o = res.obligations.merge(inp.obligations[["obligation_id", "jurisdiction", "description"]], on="obligation_id")
        status = o["status"].astype(str)
        obligations = pd.DataFrame({
            "obligation_id": o["obligation_id"], "jurisdiction": o["jurisdiction"], "description": o["description"],
            "due_date": o["due_date"], "status": status,
            "days_remaining": [int(d) if s == "open" else None for d, s in zip(o["days_remaining"], status)],
            "days_overdue": [-int(d) if s == "overdue" else None for d, s in zip(o["days_remaining"], status)],
            "fulfilled_date": o["fulfilled_date"],
            "next_milestone": [None if pd.isna(k) else str(k) for k in o["next_milestone"]],
            "milestones_overdue": o["n_milestones_overdue"].astype(np.int64),
        })
        m = res.milestones
        milestones = pd.DataFrame({
            "obligation_id": m["obligation_id"], "kind": m["kind"].astype(str), "planned_date": m["planned_date"],
            "achieved_date": m["achieved_date"], "status": m["status"].astype(str),
            "days_remaining": [_int_or_none(v) for v in m["days_remaining"]],
        })
        order = {k: i for i, k in enumerate(rules.deadlines.milestone_kinds)}
        milestones = (milestones.assign(_o=milestones["kind"].map(order))
                      .sort_values(["obligation_id", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True))
        fig["obligations_open"] = int((status == "open").sum())
        fig["obligations_overdue"] = int((status == "overdue").sum())
        fig["obligations_fulfilled"] = int(status.isin(("fulfilled", "fulfilled_late")).sum())
        fig["milestones_overdue"] = int((milestones["status"] == "overdue").sum())

    fig |= {"expedited_reports": 0, "expedited_on_time": 0, "expedited_late": 0, "expedited_on_time_pct": None,
            "expedited_pending": 0, "expedited_pending_overdue": 0, "expedited_not_required": 0}
    cc = inp.clock_cases
    if not cc.empty:
        cc = cc[_between(cc["first_received"], start, end).to_numpy()]
    if cc.empty:
        return fig, obligations, milestones, _empty("expedited_reports"), _empty("pending_reports")
    clocks = evaluate_reporting_clocks(cc, rules, as_of)
    status = clocks["status"].astype(str)
    as_of_ts = np.datetime64(as_of, "s")
    due = clocks["due_date"].to_numpy()
    sub = clocks["submitted_date"].to_numpy()
    submitted_late = (sub - due).astype("timedelta64[D]").astype(np.int64)
    still_open = (as_of_ts - due).astype("timedelta64[D]").astype(np.int64)
    late_days = np.where(status == "late", submitted_late, np.where(status == "pending_overdue", still_open, 0))
    reports = pd.DataFrame({
        "case_id": clocks["case_id"].astype(np.int64), "jurisdiction": clocks["jurisdiction"],
        "first_received": clocks["first_received"], "clock_days": [_int_or_none(v) for v in clocks["clock_days"]],
        "due_date": clocks["due_date"], "submitted_date": clocks["submitted_date"], "status": status,
        "days_late": [int(d) if s in ("late", "pending_overdue") else None for d, s in zip(late_days, status)],
        "days_remaining": [_int_or_none(v) if s == "pending" else None for v, s in zip(clocks["days_remaining"], status)],
    }).sort_values(["first_received", "case_id", "jurisdiction"], kind="stable").reset_index(drop=True)
    counts = status.value_counts()
    fig["expedited_reports"] = len(reports)
    for s in ("on_time", "late", "pending", "pending_overdue", "not_required"):
        fig[f"expedited_{s}"] = int(counts.get(s, 0))
    fig["expedited_on_time_pct"] = _pct(fig["expedited_on_time"], fig["expedited_on_time"] + fig["expedited_late"])
    pending = reports[reports["status"].isin(PENDING)][list(TABLES["pending_reports"][1:])].reset_index(drop=True)
    return fig, obligations, milestones, reports, pending


# ----------------------------------------------------------------------------- assembly
def summarise_product(inp: ProductInputs, rules, as_of: dt.date, start: dt.date, end: dt.date,
                      soc_map: dict[str, str], dme_codes: dict[str, set[str]]) -> dict[str, pd.DataFrame]:
    """The tables of one product (without the product column); `dme_codes` are each designated-medical-event
    group's PT codes (pv_service.signals.hierarchy.designated_groups)."""
    f_fig, timepoints, retention = _followup(inp, rules, as_of, start, end)
    s_fig, by_ser, by_soc, quarters, dme, signals = _safety(inp, rules, as_of, start, end, soc_map, dme_codes)
    o_fig, obligations, milestones, reports, pending = _obligations(inp, rules, as_of, start, end)
    figures = [("followup", k, v) for k, v in f_fig.items()] + [("safety", k, v) for k, v in s_fig.items()] + [
        ("obligations", k, v) for k, v in o_fig.items()]
    p = inp.product
    row = {k: p.get(k) for k in ("trade_name", "inn", "modality", "target", "mah", "followup_plan", "approvals")}
    row["modality_label"] = labels.modality(p.get("modality"))
    row["followup_plan_label"] = labels.plan(rules, p.get("plan_name", p.get("followup_plan")), p.get("followup_plan"))
    return {
        "products": pd.DataFrame([row]),
        "key_figures": pd.DataFrame({"section": [f[0] for f in figures], "figure": [f[1] for f in figures],
                                     "label": [labels.figure(f[1]) for f in figures],
                                     "value": pd.Series([f[2] for f in figures], dtype=object)}),
        "timepoints": timepoints, "retention": retention, "cases_by_seriousness": by_ser, "cases_by_soc": by_soc,
        "reports_by_quarter": quarters, "dme_cases": dme, "signals": signals, "obligations": obligations,
        "milestones": milestones, "expedited_reports": reports, "pending_reports": pending,
        **{name: inp.cohort.get(name, _empty(name)) for name in COHORT_TABLES},
    }


def concat_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(parts, ignore_index=True)`` with each column's dtype taken from the parts
    where it has values, as pandas did before 2.1: a part whose column is all missing (a
    product without that date, say) does not turn a float or date column into objects.
    Without the trimming pandas warns that a future version will count such parts."""
    order = list(dict.fromkeys(c for p in parts for c in p.columns))
    out = pd.concat([p.dropna(axis=1, how="all") for p in parts], ignore_index=True)
    empty = [c for c in order if c not in out.columns]  # missing in every part
    if empty:
        out = out.join(pd.concat([p.reindex(columns=empty) for p in parts], ignore_index=True))
    return out.reindex(columns=order)


def build_summary(inputs: list[ProductInputs], rules, as_of: dt.date, start: dt.date | None = None,
                  end: dt.date | None = None, soc_map: dict[str, str] | None = None,
                  dme_codes: dict[str, set[str]] | None = None) -> ComplianceSummary:
    """The compliance summary of one or more products as of ``as_of`` for the interval start..end
    (default: the 12 months ending at the as-of date). Raises PeriodError on an inconsistent period."""
    start, end = resolve_period(as_of, start, end)
    per_product = [(inp.product["code"], summarise_product(inp, rules, as_of, start, end, soc_map or {},
                                                                   dme_codes or {}))
                   for inp in inputs]
    tables: dict[str, pd.DataFrame] = {}
    for name, columns in TABLES.items():
        parts = [t[name].assign(product=code) for code, t in per_product if len(t[name])]
        frame = concat_rows(parts) if parts else pd.DataFrame(columns=list(columns))
        frame = frame.reindex(columns=list(columns))
        for c in columns:
            if c in DATE_COLUMNS:
                frame[c] = _dates(frame[c]) if len(frame) else frame[c].astype("datetime64[s]")
            elif c in INT_COLUMNS:
                frame[c] = pd.array([None if pd.isna(v) else int(v) for v in frame[c]], dtype="Int64")
        tables[name] = frame
    return ComplianceSummary(as_of=as_of, start=start, end=end, tables=tables)
