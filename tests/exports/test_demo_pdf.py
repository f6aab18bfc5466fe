"""The PDF of the demo data set, rendered to PNG for a person to look at (artifacts/exports/).

Needs poppler-utils (pdftoppm) for the PNGs; without it the PDF is still built and read
back with pypdf. Runs on a temporary SQLite file only (it builds its own database).
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

import pv_service.models  # noqa: F401
from pv_service.auth.models import User
from pv_service.common.vocab import Role
from pv_service.core.db import make_engine
from pv_service.core.migrate import upgrade
from pv_service.core.settings import PROJECT_ROOT
from pv_service.demo.load import load_demo
from pv_service.exports.render_pdf import render_pdf
from pv_service.exports.service import compliance_summary, products_for
from pv_service.jobs.definitions import current_rules, signal_detection
from pv_service.products.models import ConfirmatoryObligation, Product
from pv_service.products.seed import seed_products

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
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
    assert len(reader.pages) == len(products) + 1
    for page, product in zip(reader.pages, products):
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
