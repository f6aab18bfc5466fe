"""The demo's reference safety information (pv_service/rsi/data/demo_labels.yaml), created through the
same service and checks as a safety officer's entry."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.products.models import Product, ProductApproval
from pv_service.rsi.models import RsiVersion
from pv_service.rsi.schemas import RsiVersionIn
from pv_service.rsi.service import create_version

DEMO_LABELS = Path(__file__).parent / "data" / "demo_labels.yaml"


def demo_label_specs(path: Path = DEMO_LABELS) -> list[tuple[str, dict]]:
    """(product code, RsiVersionIn fields) for every seeded label version; `effective_from: approval`
    is left for the caller to resolve."""
    doc = yaml.safe_load(path.read_text())
    sets = doc["term_sets"]

    def terms(refs: list, product: str) -> list[dict]:
        out: list[dict] = []
        for ref in refs:
            out += sets[ref] if isinstance(ref, str) else [ref]
        return out + list(doc.get("extra_terms", {}).get(product, []))

    specs = []
    for product in doc["us_car_t"]["products"]:
        for v in doc["us_car_t"]["versions"]:
            specs.append((product, {"jurisdiction": "FDA", "version_label": v["version_label"],
                                    "effective_from": v["effective_from"], "source": v["source"],
                                    "terms": terms(v["terms"], product)}))
    for label in doc["labels"]:
        specs.append((label["product"], {"jurisdiction": label["jurisdiction"], "version_label": label["version_label"],
                                         "effective_from": label["effective_from"], "source": label["source"],
                                         "terms": terms(label["terms"], label["product"])}))
    cn = doc["china_car_t"]
    for product in cn["products"]:
        specs.append((product, {"jurisdiction": "NMPA", "version_label": cn["version_label"],
                                "effective_from": "approval", "source": cn["source"],
                                "terms": terms(cn["terms"], product)}))
    return specs


def seed_demo_labels(session: Session, principal: Principal, now: dt.datetime) -> int:
    """Create the demo's label versions not yet stored; returns how many were created."""
    created = 0
    for code, fields in demo_label_specs():
        product = session.exec(select(Product).where(Product.code == code)).first()
        if product is None:
            continue
        if fields["effective_from"] == "approval":
            fields = {**fields, "effective_from": session.exec(select(ProductApproval.approval_date).where(
                ProductApproval.product_id == product.id,
                ProductApproval.jurisdiction == fields["jurisdiction"])).first()}
        body = RsiVersionIn.model_validate(fields)
        if body.effective_from is None or session.exec(select(RsiVersion.id).where(
                RsiVersion.product_id == product.id, RsiVersion.jurisdiction == body.jurisdiction,
                RsiVersion.effective_from == body.effective_from)).first() is not None:
            continue
        create_version(session, principal, product, body, now)
        created += 1
    return created
