"""The signal assessment report (PDF) of a closed signal: the evidence, the case series, the
decision (every step with who, when and why) and the action; laid out with the compliance
exports' PDF code (pdf_layout: text wrapped to its box, listings counted when they do not fit)."""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import matplotlib
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from pv_service.alerting.models import Alert, AlertEvent, SignalAttachment, SignalNote
from pv_service.caseseries.agreement import Agreement
from pv_service.exports import pdf_layout as layout
from pv_service.exports.render_pdf import A4, FONT, PAGE_H, PAGE_W, fmt

MEDIA_TYPE = "application/pdf"
MEASURES = (("PRR", "prr", "prr_lower", "prr_upper"), ("ROR", "ror", "ror_lower", "ror_upper"),
            ("IC", "ic", "ic025", "ic975"), ("EBGM", "ebgm", "eb05", "eb95"))
MORE_CASES = "  and {n} more cases in the case-series CSV and Excel exports"


@dataclass
class ReportInput:
    alert: Alert
    product_code: str | None
    events: list[AlertEvent]
    notes: list[SignalNote]
    attachments: list[SignalAttachment]
    cases: pd.DataFrame  # the line listing (caseseries.listing)
    agreement: Agreement
    generated_at: dt.datetime


def _num(v) -> str:
    return "n/a" if v is None else fmt(v, digits=2) if isinstance(v, float) else fmt(v)


def evidence_lines(r: ReportInput) -> list[str]:
    d, a = r.alert.detail, r.alert
    m = d.get("measures") or {}
    lines = [f"Product: {d.get('product') or r.product_code or 'n/a'}",
             f"Event: {d.get('event_name') or d.get('event') or 'n/a'} ({d.get('level') or 'pt'})",
             (f"Rule: {str(d.get('rule') or 'n/a').replace('_', ' ')}; criteria met: "
              + (", ".join(d.get("criteria_met") or []) or "none recorded")),
             f"Raised {a.first_raised_at:%Y-%m-%d}; closed {a.resolved_at:%Y-%m-%d}" if a.resolved_at else
             f"Raised {a.first_raised_at:%Y-%m-%d}",
             f"Cases at the latest run (a): {_num(d.get('n'))}; at closing: {_num(d.get('n_at_close'))}",
             f"Serious: {fmt(100 * d['serious_fraction'], '%', 0) if d.get('serious_fraction') is not None else 'n/a'}"]
    if all(k in m for k in ("n", "n_product", "n_event", "n_total")):
        n, npr, nev, nt = (int(m[k]) for k in ("n", "n_product", "n_event", "n_total"))
        lines.append(f"2x2: a={n:,} b={npr - n:,} c={nev - n:,} d={nt - npr - nev + n:,} (N={nt:,})")
    for label, est, lo, hi in MEASURES:
        if m.get(est) is not None:
            lines.append(f"{label} {_num(m.get(est))} [{_num(m.get(lo))}, {_num(m.get(hi))}]")
    if r.agreement.agrees:
        lines.append(f"Case series: {r.agreement.listed} cases listed, agreeing with the count")
    else:
        lines.append(f"Case series: {r.agreement.listed} cases listed against a = {r.agreement.counted}: "
                     + "; ".join(r.agreement.reasons))
    return lines


def decision_lines(r: ReportInput) -> tuple[list[str], list[tuple[str, ...]]]:
    a = r.alert
    fixed = [f"Decision: {a.status.replace('_', ' ')}; action: {(a.resolution or 'none').replace('_', ' ')}"]
    items = []
    for e in r.events:
        if e.kind in ("transition", "reopened", "noted", "attached", "assigned"):
            step = (f"{e.from_status} -> {e.to_status}" if e.from_status != e.to_status else e.kind)
            text = f"{e.at:%Y-%m-%d %H:%M} {e.actor}: {step.replace('_', ' ')}"
            if e.action:
                text += f" ({e.action.replace('_', ' ')})"
            items.append((text, f"  {e.comment}" if e.comment else "  (no comment)"))
    return fixed, items


def case_items(cases: pd.DataFrame) -> list[tuple[str, ...]]:
    out = []
    for c in cases.to_dict("records"):
        onset = "n/a" if pd.isna(c["days_to_onset"]) else f"{int(c['days_to_onset'])} d"
        age = "n/a" if pd.isna(c["age_years"]) else f"{c['age_years']:.0f} y"
        out.append((f"Case {c['case_id']} v{c['version']} ({c['sender_case_id']}), {c['country'] or 'n/a'}, "
                    f"{age}, {c['sex'] or 'n/a'}; {c['product'] or 'n/a'} lot {c['lot'] or 'n/a'}; onset {onset}; "
                    f"{'serious' if c['serious'] else 'non-serious'}; {c['reactions']} ({c['outcome'].replace('_', ' ')}); "
                    f"expectedness {c['expectedness']}",))
    return out


def _block(fig: Figure, x: float, top: float, width: float, bottom: float, title: str,
           sections: list[layout.Section]) -> None:
    head = layout.fit([layout.Section((title,), weight="bold")], width * PAGE_W, 40, size=10, min_size=7)
    below = layout.draw(fig, x, top, head, PAGE_H, color="#1a3e72")
    body = layout.fit(sections, width * PAGE_W, (below - 0.006 - bottom) * PAGE_H, size=FONT)
    layout.draw(fig, x, below - 0.006, body, PAGE_H)


def render(r: ReportInput) -> bytes:
    buf = io.BytesIO()
    title = f"Signal assessment report: alert {r.alert.id}"
    with matplotlib.rc_context({"pdf.fonttype": 42, "font.family": layout.FAMILY}):
        with PdfPages(buf, metadata={"Title": title, "Creator": "pv-service"}) as pdf:
            fig = Figure(figsize=A4)
            _block(fig, 0.06, 0.965, 0.88, 0.9, title, [layout.Section(
                (r.alert.title, f"Generated {r.generated_at:%Y-%m-%d %H:%M} UTC"))])
            _block(fig, 0.06, 0.89, 0.42, 0.06, "Evidence", [layout.Section(tuple(evidence_lines(r)))])
            fixed, steps = decision_lines(r)
            notes = tuple((f"{n.at:%Y-%m-%d} {n.author}:", f"  {n.text}") for n in r.notes)
            files = tuple((f"{f.filename} ({f.content_type}, {f.size:,} bytes), {f.author} {f.at:%Y-%m-%d}",)
                          for f in r.attachments)
            _block(fig, 0.52, 0.89, 0.42, 0.06, "Decision and action", [
                layout.Section(tuple(fixed)), layout.Section(("Steps:",), tuple(steps)),
                layout.Section(("Notes:" if notes else "Notes: none",), notes),
                layout.Section(("Attachments:" if files else "Attachments: none",), files)])
            pdf.savefig(fig)
            fig = Figure(figsize=A4)
            _block(fig, 0.06, 0.965, 0.88, 0.04, f"Case series ({len(r.cases)} cases)", [
                layout.Section((), tuple(case_items(r.cases)), more=MORE_CASES)])
            pdf.savefig(fig)
    return buf.getvalue()
