"""The PDF of the demo data set, rendered to PNG for a person to look at (artifacts/exports/).

Needs poppler-utils (pdftoppm) for the PNGs; without it the PDF is still built and read
back with pypdf. Runs on a temporary SQLite file only (it builds its own database).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import shutil
import subprocess
import time

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from pypdf import PdfReader
from sqlmodel import Session, select

import pv_service.models  # noqa: F401
from pv_service.auth.models import User
from pv_service.common.vocab import Role
from pv_service.core.db import make_engine
from pv_service.core.migrate import upgrade
from pv_service.core.settings import PROJECT_ROOT
from pv_service.demo.load import load_demo
from pv_service.exports.pdf_layout import Section, fit, text_width, wrap_line
from pv_service.exports.render_pdf import definitions_page, product_page, render_pdf
from pv_service.exports.service import compliance_summary, products_for
from pv_service.exports.summary import INT_COLUMNS, TABLES, ComplianceSummary, concat_rows
from pv_service.jobs.definitions import current_rules, signal_detection
from pv_service.products.models import ConfirmatoryObligation, Product
from pv_service.products.seed import seed_products

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
ARTIFACTS = PROJECT_ROOT / "artifacts" / "exports"


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo_export') / 'demo.db'}")
    upgrade(engine)
    with Session(engine) as session:
        seed_products(session, NOW)
        load_demo(session, NOW, n_patients=300)
        session.commit()
        signal_detection(session, NOW)  # so the pages show signal alerts
        session.commit()
    yield engine
    engine.dispose()


def test_demo_pdf_to_png(demo_engine):
    with Session(demo_engine) as session:
        mah = session.exec(select(User).where(User.username == "demo-mah")).one()
        # The demo MAH's products, plus the products with confirmatory obligations (other holders).
        codes = [p.code for p in products_for(session, Role.mah, mah.organization_id, None)]
        codes += session.exec(select(Product.code).join(ConfirmatoryObligation,
                                                        ConfirmatoryObligation.product_id == Product.id)).all()
        products = [p for p in products_for(session, Role.safety_officer, None, None) if p.code in set(codes)]
        summary = compliance_summary(session, products, current_rules(), NOW.date())
    pdf = render_pdf(summary)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "demo-compliance.pdf"
    path.write_bytes(pdf)

    reader = PdfReader(path)
    assert len(reader.pages) == 2 * len(products) + 1  # each product, its cohort analytics; the definitions
    for page, cohort_page, product in zip(reader.pages[0::2], reader.pages[1::2], products):
        assert f"Cohort analytics: {product.code}" in cohort_page.extract_text()
        text = page.extract_text()
        assert f"Compliance summary: {product.code}" in text
        k = summary.key_figures(product.code)
        assert f"Patients treated: {k['followup']['patients_treated']:,}" in text
        assert f"Cases cumulative: {k['safety']['cases_cumulative']:,}" in text
    assert any(summary.key_figures(c)["obligations"]["obligations"] for c in summary.product_codes)
    assert any(summary.key_figures(c)["safety"]["signals_open"] for c in summary.product_codes)

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed: PDF checked with pypdf only, no PNG written")
    for old in ARTIFACTS.glob("demo-compliance-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "100", "-png", str(path), str(ARTIFACTS / "demo-compliance")], check=True,
                   timeout=120)
    pngs = sorted(ARTIFACTS.glob("demo-compliance-*.png"))
    assert len(pngs) == len(reader.pages)
    assert all(p.stat().st_size > 20_000 for p in pngs)  # a rendered page, not a blank one


# ---- every text on the page, measured: many pending reports, long names

LONG_SOCS = ["Blood and lymphatic system disorders", "General disorders and administration site conditions",
             "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
             "Injury, poisoning and procedural complications", "Respiratory, thoracic and mediastinal disorders",
             "Musculoskeletal and connective tissue disorders", "Surgical and medical procedures"]
LONG_EVENT = "Immune effector cell-associated neurotoxicity syndrome"
LONG_TERM = "Angioimmunoblastic T-cell lymphoma, recurrent and refractory to second-line treatment"


def _rows(name: str, code: str, rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).assign(product=code).reindex(columns=list(TABLES[name]))
    for c in frame.columns:
        if c in INT_COLUMNS:  # as build_summary types them
            frame[c] = pd.array([None if pd.isna(v) else int(v) for v in frame[c]], dtype="Int64")
    return frame


def crowded(summary: ComplianceSummary, code: str) -> ComplianceSummary:
    """The summary with ``code``'s listings far longer than a page holds, and very long names."""
    day = pd.Timestamp("2026-10-01")
    extra = {
        "cases_by_soc": [{"soc": s, "n_cases": 20 - i, "n_serious_cases": 1, "n_reactions": 30}
                         for i, s in enumerate(LONG_SOCS)],
        "pending_reports": [{"case_id": 9000 + i, "jurisdiction": ("NMPA", "FDA", "EMA")[i % 3],
                             "first_received": day, "due_date": day + pd.Timedelta(days=i),
                             "status": "pending_overdue" if i % 2 else "pending",
                             "days_remaining": None if i % 2 else 3 + i, "days_late": i if i % 2 else None}
                            for i in range(60)],
        "dme_cases": [{"group": "T-cell malignancies", "case_id": 8000 + i, "sender_case_id": f"S-{i}",
                       "pt_name": LONG_TERM, "onset_date": day, "outcome": "not_recovered", "serious": True,
                       "transgene_in_tumour": "yes", "first_received": day, "in_interval": True} for i in range(25)],
        "signals": [{"alert_id": 7000 + i, "event": f"{LONG_EVENT} {i}", "level": "pt", "rule": "statistical",
                     "n": 3, "status": "not_confirmed", "state": "open", "severity": "high", "priority": 1.0}
                    for i in range(20)],
        "obligations": [{"obligation_id": 600 + i, "jurisdiction": "NMPA", "description": "study",
                         "due_date": day, "status": "open", "days_remaining": 100, "days_overdue": None,
                         "next_milestone": "converted_to_full_approval", "milestones_overdue": 0}
                        for i in range(8)],
    }
    tables = dict(summary.tables)
    for name, rows in extra.items():
        others = tables[name][tables[name]["product"] != code]
        tables[name] = concat_rows([others, _rows(name, code, rows)])
    products = tables["products"].copy()
    mine = products["product"] == code
    products.loc[mine, "trade_name"] = "A very long trade name for a cell therapy product " * 2
    products.loc[mine, "mah"] = "Marketing Authorisation Holder of Long Names International Holdings Limited"
    products.loc[mine, "inn"] = r"$\frac{x$ cel"  # dollar signs are text, not mathtext
    products.loc[mine, "approvals"] = "; ".join(f"NMPA 20{10 + i}-01-0{1 + i % 9} (conditional)" for i in range(12))
    tables["products"] = products
    return dataclasses.replace(summary, tables=tables)


def _texts(fig):
    fig.canvas = FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            out.append((t, t.get_window_extent(renderer)))
    return out, renderer


def assert_on_page_and_uncut(fig, what: str) -> list[str]:
    texts, renderer = _texts(fig)
    page = fig.bbox
    shown = []
    for t, box in texts:
        s = t.get_text()
        shown.append(s)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, \
            f"{what}: {s!r} runs off the page ({box} outside {page})"
        assert "…" not in s and "..." not in s and "[...]" not in s, f"{what}: {s!r} is cut"
    # The page's own text blocks overlap neither each other nor the plots.
    page_texts = {id(t) for t in fig.texts}
    blocks = [(t.get_text(), box) for t, box in texts if id(t) in page_texts]
    plots = [(f"plot {i}", ax.get_tightbbox(renderer)) for i, ax in enumerate(fig.axes)]
    for i, (a, box_a) in enumerate(blocks):
        for b, box_b in blocks[i + 1:] + plots:
            assert not box_a.overlaps(box_b), f"{what}: {a!r} overlaps {b!r}"
    return shown


INTERNAL = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b|\.ya?ml\b|\.csv\b|/v1/|DEMO ASSUMPTION")


def test_every_text_fits_the_page_with_long_lists_and_names(demo_engine):
    with Session(demo_engine) as session:
        products = products_for(session, Role.safety_officer, None, None)
        summary = compliance_summary(session, products, current_rules(), NOW.date())
    code = next(c for c in summary.product_codes if summary.key_figures(c)["followup"]["patients_treated"])
    big = crowded(summary, code)
    shown = assert_on_page_and_uncut(product_page(big, code), code)
    text = " ".join(" ".join(shown).split())
    for soc in LONG_SOCS[:3]:
        assert soc in text, f"{soc!r} not shown whole"
    assert f"{LONG_EVENT} 0: not confirmed" in text and f"case 8000: {LONG_TERM}" in text
    assert "case 9000 to NMPA" in text and re.search(r"and \d+ more in the JSON, CSV and Excel exports", text)
    assert "Marketing Authorisation Holder of Long Names International Holdings Limited" in text
    assert r"($\frac{x$ cel)" in text
    assert not INTERNAL.findall(text), INTERNAL.findall(text)
    assert "CAR-T" in text or "stem-cell therapy" in text or "gene therapy" in text
    plan = current_rules().followup.plans[summary.table("products", code)["followup_plan"].iloc[0]]
    assert f"Follow-up plan: {plan.label}" in text
    assert_on_page_and_uncut(definitions_page(big), "definitions")

    # The PDF itself: every text run starts on the page, nothing cut, no internal name.
    pdf = render_pdf(big)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "crowded-compliance.pdf").write_bytes(pdf)  # for a person to look at
    reader = PdfReader(io.BytesIO(pdf))
    for number, page in enumerate(reader.pages, 1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        runs = []

        def visit(s, cm, tm, font, size, runs=runs):
            if s.strip():
                runs.append((s, cm[4] + tm[4] * cm[0], cm[5] + tm[5] * cm[3]))

        page_text = page.extract_text(visitor_text=visit)
        assert runs, f"page {number}: no text"
        for s, x, y in runs:
            assert 0 <= x <= width and 0 <= y <= height, f"page {number}: {s!r} at ({x:.0f}, {y:.0f})"
        flat = " ".join(page_text.split())
        assert "…" not in flat and not INTERNAL.findall(flat), (number, INTERNAL.findall(flat))


def test_fit_keeps_every_word_and_counts_what_is_left_out():
    line = "  General disorders and administration site conditions: 12"
    wrapped = wrap_line(line, 80.0, 7.6)
    assert len(wrapped) > 1 and all(text_width(w, 7.6) <= 80.0 for w in wrapped)
    assert " ".join(" ".join(wrapped).split()) == " ".join(line.split())
    assert all(w.startswith("    ") for w in wrapped[1:])  # continuation indented under the item
    long_word = "x" * 200
    assert "".join(w.strip() for w in wrap_line(long_word, 60.0, 7.0)) == long_word
    items = tuple((f"  case {i} to NMPA: due 2026-01-01, overdue by 3 d",) for i in range(40))
    block = fit([Section(("Pending:",), items)], 230.0, 190.0, 7.2)
    assert block.height <= 190.0 and block.shown[0] < 40
    assert block.lines[-1][0] == f"  and {40 - block.shown[0]} more in the JSON, CSV and Excel exports"
    huge = tuple((f"  case {i} to NMPA: due 2026-01-01, overdue by 3 d",) for i in range(100_000))
    started = time.monotonic()
    many = fit([Section(("Pending:",), huge)], 230.0, 190.0, 7.2)
    assert time.monotonic() - started < 5  # bounded by the box, not by the data
    assert many.lines[-1][0] == f"  and {100_000 - many.shown[0]} more in the JSON, CSV and Excel exports"
    roomy = fit([Section(("Pending:",), items[:3])], 230.0, 190.0, 7.2)
    assert roomy.shown == (3,) and roomy.size == 7.2 and len(roomy.lines) == 4
