"""PDF rendering (matplotlib, no pyplot state): a one-page overview per product, then the definitions.

Each product page: the key figures as text in three columns (follow-up, safety,
obligations), the retention curve, timepoint completeness bars, cumulative reports by
quarter, and the designated-medical-event cases and pending expedited reports.
Text is embedded as TrueType (pdf.fonttype 42) so it can be searched and extracted. Every
text block is wrapped and fitted to its box (pdf_layout): listings show as many whole
items as fit and count the rest; labels are never cut. Codes are shown as words (labels).
"""
from __future__ import annotations

import io
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pv_service.exports import labels
from pv_service.exports import pdf_layout as layout
from pv_service.exports.summary import ComplianceSummary

MEDIA_TYPE = "application/pdf"
A4 = (8.27, 11.69)
PAGE_W, PAGE_H = A4[0] * 72, A4[1] * 72  # points
FONT = 7.6
COLUMNS_BOTTOM = 0.605  # the key-figure columns end above the plots' titles
STATUS_COLOURS = {  # timepoint statuses shown in the completeness bars, in stacking order
    "completed_on_time": ("#2e7d32", "on time"),
    "completed_late": ("#9ccc65", "late"),
    "window_open": ("#90caf9", "window open"),
    "overdue": ("#ffb74d", "overdue"),
    "missed": ("#d32f2f", "missed"),
}


def fmt(v: Any, unit: str = "", digits: int = 1) -> str:
    """Counts with thousands separators, other numbers with ``digits`` decimals, missing as n/a."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}{unit}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):,.{digits}f}{unit}"
    return f"{v}{unit}"


def _text(v) -> str:
    return v if isinstance(v, str) and v.strip() else "not recorded"


def _date(v) -> str:
    return "n/a" if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat()


def followup_lines(f: dict[str, Any]) -> list[str]:
    return [
        f"Patients treated: {fmt(f['patients_treated'])}",
        f"  first treated in interval: {fmt(f['patients_first_treated_in_interval'])}",
        f"Active: {fmt(f['patients_active'])}   Completed: {fmt(f['patients_completed'])}",
        f"Lost to follow-up: {fmt(f['patients_lost_to_follow_up'])}",
        f"Deceased: {fmt(f['patients_deceased'])}   Withdrawn: {fmt(f['patients_withdrawn'])}",
        f"Transferred: {fmt(f['patients_transferred'])}",
        f"Timepoints due in interval: {fmt(f['timepoints_due_in_interval'])}",
        f"  on time {fmt(f['interval_completed_on_time'])}, late {fmt(f['interval_completed_late'])}, "
        f"missed {fmt(f['interval_missed'])}",
        f"  overdue {fmt(f['interval_overdue'])}, window open {fmt(f['interval_window_open'])}",
        f"  completion {fmt(f['interval_completion_pct'], '%')} (on time {fmt(f['interval_on_time_pct'], '%')})",
        f"Retention (KM): 1 y {fmt(f['retention_1y_pct'], '%')}, 2 y {fmt(f['retention_2y_pct'], '%')}",
        f"  5 y {fmt(f['retention_5y_pct'], '%')}",
        f"Median follow-up: {fmt(f['median_followup_months'])} months",
        f"  (simple median); patient-years {fmt(f['patient_years'], digits=2)}",
        "Malignancy screening in interval:",
        *screening_lines(f),
    ]


def screening_lines(f: dict[str, Any]) -> list[str]:
    if f["malignancy_screening_visits_pct"] is None and f["visits_in_interval"]:
        return ["  not in the follow-up plan"]  # the only way visits exist without a share
    return [
        f"  visits {fmt(f['malignancy_screening_visits_pct'], '%')} of {fmt(f['visits_in_interval'])}",
        f"  yearly timepoints {fmt(f['malignancy_screening_yearly_pct'], '%')} of "
        f"{fmt(f['yearly_timepoints_screening_due'])}",
        f"  positive screenings: {fmt(f['malignancy_screening_positive_in_interval'])}",
    ]


def safety_lines(s: dict[str, Any]) -> list[str]:
    return [
        f"Cases in interval: {fmt(s['cases_in_interval'])}",
        f"  serious {fmt(s['cases_serious'])}, non-serious {fmt(s['cases_non_serious'])}",
        f"  fatal {fmt(s['cases_fatal'])}",
        f"Cases cumulative: {fmt(s['cases_cumulative'])}",
        f"DME cases: {fmt(s['dme_cases_in_interval'])} in interval, {fmt(s['dme_cases_cumulative'])} cumulative",
        f"Signals: {fmt(s['signals_open'])} open, {fmt(s['signals_closed'])} closed",
        "Top system organ classes (interval):",
    ]


def soc_items(socs: pd.DataFrame) -> list[tuple[str, ...]]:
    if socs.empty:
        return [("  none",)]
    return [(f"  {rec.soc}: {fmt(rec.n_cases)}",) for rec in socs.itertuples(index=False)]


def obligation_lines(o: dict[str, Any]) -> list[str]:
    return [
        f"Confirmatory obligations: {fmt(o['obligations'])}",
        f"  open {fmt(o['obligations_open'])}, overdue {fmt(o['obligations_overdue'])}, "
        f"fulfilled {fmt(o['obligations_fulfilled'])}",
        f"  milestones overdue: {fmt(o['milestones_overdue'])}",
    ]


def obligation_items(obligations: pd.DataFrame) -> list[tuple[str, ...]]:
    items = []
    for rec in obligations.itertuples(index=False):
        if rec.status == "open":
            when = f"{fmt(rec.days_remaining)} days left"
        elif rec.status == "overdue":
            when = f"overdue by {fmt(rec.days_overdue)} days"
        else:
            when = labels.words(rec.status)
        item = [f"  {rec.jurisdiction} due {_date(rec.due_date)}: {when}"]
        if isinstance(rec.next_milestone, str):
            item.append(f"    next: {labels.words(rec.next_milestone)}")
        items.append(tuple(item))
    return items


def expedited_lines(o: dict[str, Any]) -> list[str]:
    return [
        f"Expedited reports in interval: {fmt(o['expedited_reports'])}",
        f"  on time {fmt(o['expedited_on_time'])}, late {fmt(o['expedited_late'])}",
        f"  on time: {fmt(o['expedited_on_time_pct'], '%')} of submitted",
        f"  pending {fmt(o['expedited_pending'])}, pending overdue {fmt(o['expedited_pending_overdue'])}",
        f"  not required {fmt(o['expedited_not_required'])}",
    ]


def _column(fig: Figure, x: float, top: float, width: float, bottom: float, title: str,
            sections: list[layout.Section]) -> None:
    """A titled column of key figures in the box x..x+width, top..bottom (figure fractions)."""
    head = layout.fit([layout.Section((title,), weight="bold")], width * PAGE_W, 40, size=9.5, min_size=7)
    below = layout.draw(fig, x, top, head, PAGE_H, color="#1a3e72")
    body = layout.fit(sections, width * PAGE_W, (below - 0.004 - bottom) * PAGE_H, size=FONT)
    layout.draw(fig, x, below - 0.004, body, PAGE_H)


def _frame(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=7)


def _no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=8, color="#666666", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_retention(ax, km: pd.DataFrame) -> None:
    ax.set_title("Retention: not lost to follow-up (Kaplan-Meier)", fontsize=8.5, loc="left")
    if km.empty:
        return _no_data(ax, "no treated patients")
    days = km["time_days"].to_numpy(dtype=float)
    years = days.max() > 3 * 365
    scale, unit = (365.25, "years") if years else (365.25 / 12, "months")
    x = np.concatenate([[0.0], days / scale])
    y = np.concatenate([[1.0], km["survival"].to_numpy(dtype=float)]) * 100
    ax.step(x, y, where="post", color="#1a3e72", lw=1.4)
    cens = km["n_censored"].to_numpy() > 0
    if cens.sum() <= 400:
        ax.plot(days[cens] / scale, km["survival"].to_numpy(dtype=float)[cens] * 100, "|", color="#1a3e72",
                ms=4, mew=0.6, alpha=0.6, label="censored")
    ax.set_ylim(min(50.0, float(y.min()) - 5), 104)
    _frame(ax)
    ax.set_xlim(0, max(float(x.max()), 1.0))
    ax.set_xlabel(f"time since first infusion ({unit})", fontsize=7.5)
    ax.set_ylabel("% retained", fontsize=7.5)
    ax.grid(alpha=0.3, lw=0.5)
    ax.tick_params(labelsize=7)
    n0 = int(km["n_at_risk"].iloc[0])
    ax.text(0.98, 0.04, f"n = {n0:,}; events = {int(km['n_events'].sum()):,}", ha="right", fontsize=7,
            transform=ax.transAxes)


def plot_completeness(ax, tps: pd.DataFrame) -> None:
    ax.set_title("Timepoint completeness (% of due timepoints)", fontsize=8.5, loc="left")
    due = tps[tps["due"] > 0]
    if due.empty:
        return _no_data(ax, "no timepoint due yet")
    labels = due["label"].tolist()
    ypos = np.arange(len(labels))
    left = np.zeros(len(labels))
    total = due["due"].to_numpy(dtype=float)
    for status, (colour, name) in STATUS_COLOURS.items():
        share = due[status].to_numpy(dtype=float) / total * 100
        ax.barh(ypos, share, left=left, color=colour, height=0.75, label=name, edgecolor="white", lw=0.3)
        left += share
    ax.set_yticks(ypos, [f"{lab} (n={int(n):,})" for lab, n in zip(labels, total)],
                  fontsize=6.5 if len(labels) <= 20 else 5)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    _frame(ax)
    ax.set_xlabel("%", fontsize=7.5)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=6.5, ncol=5, loc="upper center", bbox_to_anchor=(0.45, -0.13), frameon=False,
              handlelength=1, columnspacing=0.8)


def plot_reports(ax, quarters: pd.DataFrame, start, end) -> None:
    ax.set_title("Cumulative reports by quarter of receipt", fontsize=8.5, loc="left")
    if quarters.empty:
        return _no_data(ax, "no reports")
    x = pd.to_datetime(quarters["quarter_start"]) + pd.Timedelta(days=45)
    ax.bar(x, quarters["n_cases"], width=70, color="#b0bec5", label="reports in quarter")
    ax.plot(x, quarters["cumulative_cases"], color="#1a3e72", marker="o", ms=2.5, lw=1.3, label="cumulative, all")
    ax.plot(x, quarters["cumulative_serious"], color="#c62828", marker="o", ms=2.5, lw=1.3,
            label="cumulative, serious")
    ax.axvspan(pd.Timestamp(start), pd.Timestamp(end), color="#fff3c4", lw=0, label="interval", zorder=0)
    ax.set_ylabel("reports", fontsize=7.5)
    _frame(ax)
    ax.grid(alpha=0.3, lw=0.5, axis="y")
    ax.set_ylim(0, max(1, int(quarters["cumulative_cases"].max())) * 1.08)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.legend(fontsize=6.5, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False,
              handlelength=1.2, columnspacing=0.8)


def listing_sections(dme: pd.DataFrame, pending: pd.DataFrame, signals: pd.DataFrame) -> list[layout.Section]:
    """Signal alerts, designated-medical-event cases and pending expedited reports, as many as fit."""
    sig = [(f"  {rec.event if isinstance(rec.event, str) else 'event not recorded'}: {labels.words(rec.status)}",)
           for rec in signals.sort_values(["state", "alert_id"], ascending=[False, True]).itertuples(index=False)]
    dmes = []
    for rec in dme.itertuples(index=False):
        tg = labels.words(rec.transgene_in_tumour)
        dmes.append((f"  case {rec.case_id}: {rec.pt_name}",
                     f"    onset {_date(rec.onset_date)}, {labels.words(rec.outcome)}, transgene: {tg}"))
    pend = []
    for rec in pending.itertuples(index=False):
        state = (f"overdue by {fmt(rec.days_late)} d" if rec.status == "pending_overdue"
                 else f"{fmt(rec.days_remaining)} d left")
        pend.append((f"  case {rec.case_id} to {rec.jurisdiction}: due {_date(rec.due_date)}, {state}",))
    none = (("  none",),)
    return [
        layout.Section(("Signal alerts:",), tuple(sig) or none),
        layout.Section(("", "Designated medical event cases (cumulative):"), tuple(dmes) or none),
        layout.Section(("", "Pending expedited reports:"), tuple(pend) or none),
    ]


def approvals_line(approvals: list[str], width: float, size: float, max_lines: int = 2) -> str:
    """'Approvals: A; B; ...' with as many as fit on ``max_lines`` lines, then how many more."""
    if not approvals:
        return "Approvals: none recorded"
    for k in range(len(approvals), 0, -1):
        rest = len(approvals) - k
        line = "Approvals: " + "; ".join(approvals[:k]) + (f"; and {rest} more in the tables" if rest else "")
        if len(layout.wrap_line(line, width, size)) <= max_lines:
            return line
    return f"Approvals: {approvals[0]}; and {len(approvals) - 1} more in the tables"


def product_page(summary: ComplianceSummary, code: str) -> Figure:
    fig = Figure(figsize=A4)
    info = summary.table("products", code).iloc[0]
    k = summary.key_figures(code)
    full = 0.90 * PAGE_W
    title = layout.fit([layout.Section((f"Compliance summary: {code}",), weight="bold")], full, 44, size=15,
                       min_size=9)
    y = layout.draw(fig, 0.05, 0.965, title, PAGE_H) - 0.006
    approvals = [a for a in info["approvals"].split("; ") if a] if isinstance(info["approvals"], str) else []
    header = layout.fit([
        layout.Section((f"{_text(info['trade_name'])} ({_text(info['inn'])}), {info['modality_label']}; "
                        f"MAH: {_text(info['mah'])}",
                        f"As of {summary.as_of.isoformat()}; interval {summary.start.isoformat()} to "
                        f"{summary.end.isoformat()}",
                        f"Follow-up plan: {info['followup_plan_label']}")),
        layout.Section((approvals_line(approvals, full, 8.5),))], full, 80, size=8.5, min_size=6)
    y = layout.draw(fig, 0.05, y, header, PAGE_H) - 0.012
    top, bottom = y, COLUMNS_BOTTOM
    _column(fig, 0.05, top, 0.30, bottom, "Follow-up", [layout.Section(tuple(followup_lines(k["followup"])))])
    _column(fig, 0.37, top, 0.29, bottom, "Safety", [
        layout.Section(tuple(safety_lines(k["safety"]))),
        layout.Section((), tuple(soc_items(summary.table("cases_by_soc", code))))])
    _column(fig, 0.68, top, 0.27, bottom, "Obligations", [
        layout.Section(tuple(obligation_lines(k["obligations"]))),
        layout.Section((), tuple(obligation_items(summary.table("obligations", code)))),
        layout.Section(tuple(expedited_lines(k["obligations"])))])

    plot_retention(fig.add_axes((0.08, 0.365, 0.38, 0.215)), summary.table("retention", code))
    plot_completeness(fig.add_axes((0.62, 0.365, 0.33, 0.215)), summary.table("timepoints", code))
    plot_reports(fig.add_axes((0.08, 0.1, 0.42, 0.185)), summary.table("reports_by_quarter", code),
                 summary.start, summary.end)
    listing = layout.fit(listing_sections(summary.table("dme_cases", code), summary.table("pending_reports", code),
                                          summary.table("signals", code)),
                         0.39 * PAGE_W, (0.268 - 0.04) * PAGE_H, size=FONT - 0.4)
    layout.draw(fig, 0.56, 0.268, listing, PAGE_H)
    fig.text(0.05, 0.015, "pv-service compliance summary. Definitions on the last page; every table in the "
             "JSON, CSV and Excel exports.", fontsize=6.5, color="#666666", parse_math=False)
    return fig


def cohort_sections(summary: ComplianceSummary, code: str) -> list[layout.Section]:
    """The cohort analytics tables as text: incidence, sequential tests, cumulative incidence, onset, lots."""
    inc = summary.table("cohort_incidence", code)
    rows = []
    for r in inc.itertuples(index=False):
        line = (f"  {r.event_group}: {r.events} events in {fmt(r.person_years, digits=1)} patient-years, "
                f"{fmt(r.rate_per_100py, digits=2)} per 100 PY [{fmt(r.rate_lower, digits=2)}, "
                f"{fmt(r.rate_upper, digits=2)}]")
        if r.sir is not None and not pd.isna(r.sir):
            line += f"; SIR {fmt(r.sir, digits=1)} [{fmt(r.sir_lower, digits=1)}, {fmt(r.sir_upper, digits=1)}]"
        rows.append((line,))
    seq = [(f"  {r.event_group}: {r.observed} observed, {fmt(r.expected, digits=3)} expected, highest LLR "
            f"{fmt(r.max_llr, digits=2)} against {fmt(r.critical_value, digits=2)}: "
            + (f"signal (crossed {r.first_signal_date})" if r.signalled else "no signal"),)
           for r in summary.table("cohort_sequential", code).itertuples(index=False)]
    cum = summary.table("cohort_cumulative", code)
    cif = []
    for group, part in cum.groupby("event_group", sort=False):
        values = ", ".join(f"{fmt(y, digits=0)} y " + ("n/a" if pd.isna(e) else f"{fmt(100 * e, digits=2)}%")
                           for y, e in zip(part["years"], part["estimate"]))
        method = labels.words(part["method"].iloc[0]).replace("aalen johansen", "Aalen-Johansen").replace(
            "kaplan meier", "1 - Kaplan-Meier")
        cif.append((f"  {group} ({method}): {values}",))
    tto = [(f"  {r.event_group} ({r.source}): n {r.n}, median {fmt(r.median_days, digits=0)} d "
            f"(IQR {fmt(r.q1_days, digits=0)}-{fmt(r.q3_days, digits=0)})"
            + ("" if r.weibull_shape is None or pd.isna(r.weibull_shape) else
               f", Weibull shape {fmt(r.weibull_shape, digits=2)} [{fmt(r.shape_lower, digits=2)}, "
               f"{fmt(r.shape_upper, digits=2)}]: hazard {labels.words(r.hazard)}"),)
           for r in summary.table("cohort_onset", code).itertuples(index=False)]
    lots = summary.table("cohort_lots", code)
    flagged = [(f"  {r.event_group}: lot {r.lot}, {r.observed} observed, {fmt(r.expected, digits=2)} expected, "
                f"adjusted p {r.p_adjusted:.2g}",) for r in lots[lots["flagged"].astype(bool)].itertuples(index=False)]
    none = (("  none",),)
    return [
        layout.Section(("Incidence (exact 95% limits; SIR against background rates):",), tuple(rows) or none),
        layout.Section(("", "Sequential monitoring (Poisson MaxSPRT):"), tuple(seq) or none),
        layout.Section(("", "Cumulative incidence at 1, 2, 5, 10 years:"), tuple(cif) or none),
        layout.Section(("", "Time to onset:"), tuple(tto) or none),
        layout.Section(("", "Lots with a significant excess:"), tuple(flagged) or none),
    ]


def cohort_page(summary: ComplianceSummary, code: str) -> Figure:
    fig = Figure(figsize=A4)
    full = 0.90 * PAGE_W
    title = layout.fit([layout.Section((f"Cohort analytics: {code}",), weight="bold")], full, 44, size=15, min_size=9)
    y = layout.draw(fig, 0.05, 0.965, title, PAGE_H) - 0.01
    block = layout.fit(cohort_sections(summary, code), full, (y - 0.04) * PAGE_H, size=7.8, min_size=6)
    layout.draw(fig, 0.05, y, block, PAGE_H)
    return fig


def definitions_page(summary: ComplianceSummary) -> Figure:
    fig = Figure(figsize=A4)
    fig.text(0.05, 0.965, "Definitions", fontsize=15, fontweight="bold", va="top", parse_math=False)
    notes = [layout.Section((f"{i}. {note}", "")) for i, note in enumerate(summary.notes, 1)]
    block = layout.fit(notes, 0.90 * PAGE_W, (0.93 - 0.03) * PAGE_H, size=7.8)
    layout.draw(fig, 0.05, 0.93, block, PAGE_H)
    return fig


def render_pdf(summary: ComplianceSummary) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}):
        with PdfPages(buf, metadata={"Title": f"Compliance summary as of {summary.as_of.isoformat()}",
                                     "Creator": "pv-service"}) as pdf:
            for code in summary.product_codes:
                pdf.savefig(product_page(summary, code))
                pdf.savefig(cohort_page(summary, code))
            pdf.savefig(definitions_page(summary))
    return buf.getvalue()
