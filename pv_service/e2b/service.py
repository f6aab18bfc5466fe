"""One E2B(R3) batch in, its acknowledgement out: shared by the HTTP route and the CLI."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.engine import Engine

from pv_service.auth.principal import Principal
from pv_service.core.db import session_scope
from pv_service.core.settings import Settings
from pv_service.e2b import ack, importer, schema_set
from pv_service.e2b.ack import BatchResult
from pv_service.jobs.definitions import current_rules


@dataclass
class Received:
    result: BatchResult
    ack_xml: bytes


def receive(engine: Engine, settings: Settings, principal: Principal, data: bytes | BinaryIO,
            now: dt.datetime) -> Received:
    """Raises SchemaSetError without a schema set (import never skips validation) and reader.Refused
    for a file refused (before parsing, or malformed part-way: nothing is stored); otherwise commits
    what was accepted and returns the ACK. `data`: a request body (at most PV_E2B_MAX_BYTES) or a
    file opened for reading (any size: it is streamed)."""
    schemas = schema_set.configured(settings.e2b_schema_dir)
    with session_scope(engine) as session:
        result = importer.import_batch(session, principal, data, schemas, settings.e2b_max_bytes, now,
                                       current_rules().e2b)
        session.commit()
    return Received(result, ack.build(result, settings.e2b_identifier, uuid.uuid4().hex, now))


EXPORT_CHUNK = 1000  # cases read per round of queries: the reads stay batched and memory stays bounded


def export_cases(session, principal: Principal, case_ids: list[int], profile: str, sender: str, now: dt.datetime,
                 receiver: str | None = None) -> bytes:
    """The latest version of each visible case as one E2B(R3) batch; NotFound names an invisible id."""
    from sqlmodel import select

    from pv_service.cases.access import case_filter
    from pv_service.cases.models import Case
    from pv_service.common.errors import NotFound
    from pv_service.e2b.export import build_batch

    visible = set()
    for start in range(0, len(case_ids), EXPORT_CHUNK):
        visible.update(session.exec(select(Case.id).where(Case.id.in_(case_ids[start:start + EXPORT_CHUNK]),
                                                          case_filter(principal))))
    missing = [i for i in case_ids if i not in visible]
    if missing:
        raise NotFound(f"no such report: {missing[0]}")

    def versions():
        for start in range(0, len(case_ids), EXPORT_CHUNK):
            yield from _export_views(session, case_ids[start:start + EXPORT_CHUNK], profile == "nmpa")

    data = build_batch(versions(), profile, sender, uuid.uuid4().hex, now, receiver)
    if profile == "nmpa":
        _refuse_unmet_rules(data, case_ids)
    return data


def _refuse_unmet_rules(data: bytes, case_ids: list[int]) -> None:
    """422 naming each element of alerts/e2b_rules.yaml a message misses (the rules its receiver
    selects): an NMPA regional element the case cannot fill truthfully is left out, never invented."""
    from lxml import etree

    from pv_service.common.errors import Problems
    from pv_service.e2b import business_rules, icsr

    rules = current_rules().e2b
    problems = Problems()
    tree = etree.fromstring(data, etree.XMLParser(huge_tree=True)).getroottree()
    for i, (cid, el) in enumerate(zip(case_ids, icsr.messages(tree))):
        receiver = el.xpath("string(h:receiver/h:device/h:id/@extension)", namespaces=icsr.NS)
        for p in business_rules.check(el, rules, receiver):
            problems.add(("case_ids", i), f"case {cid} cannot go to {receiver}: {p.element} {p.reason}")
    problems.raise_if_any()


def _export_views(session, case_ids: list[int], china: bool = False):
    """(latest version, registered patient's sex and birth year or None, and with `china`, per drug whether its
    registry product is approved in China and its holder's NMPA identifier, None when not registered) of each
    case, in five queries (seven with `china`)."""
    import sqlalchemy as sa
    from sqlmodel import select

    from pv_service.auth.models import Organization
    from pv_service.cases import service as cases_service
    from pv_service.cases.models import Case, CaseDrug, CaseVersion
    from pv_service.common.errors import InvalidInput
    from pv_service.patients.models import Patient, Treatment
    from pv_service.products.models import Product, ProductApproval

    cases = {c.id: c for c in session.exec(select(Case).where(Case.id.in_(case_ids)))}
    latest = list(session.exec(select(CaseVersion).where(CaseVersion.id.in_([c.latest_version_id for c in cases.values()]))))
    views = {v.case_id: v for v in cases_service.describe_versions(session, cases, latest)}
    # A registered patient's drugs are its treatments: name and lot from the registry (one row per drug,
    # in the order describe_versions lists them).
    registry: dict[int, list[tuple]] = {}
    for row in session.execute(
        sa.select(CaseDrug.case_version_id, Product.trade_name, Treatment.batch_number)
        .outerjoin(Product, Product.id == CaseDrug.product_id).outerjoin(Treatment, Treatment.id == CaseDrug.treatment_id)
        .where(CaseDrug.case_version_id.in_([v.id for v in latest])).order_by(CaseDrug.id)):
        registry.setdefault(row.case_version_id, []).append((row.trade_name, row.batch_number))
    patient_ids = sorted({c.patient_id for c in cases.values() if c.patient_id is not None})
    patients = {p.id: {"sex": p.sex, "birth_year": p.birth_year} for p in session.exec(
        select(Patient.id, Patient.sex, Patient.birth_year).where(Patient.id.in_(patient_ids)))} if patient_ids else {}
    in_china: set[int] = set()
    holders: dict[int, str | None] = {}
    product_ids = {d.product_id for v in views.values() for d in v.drugs if d.product_id is not None} if china else set()
    if product_ids:  # C.1.CN.2 (pre- or post-marketing) and C.1.CN.3 (the holder's identifier)
        in_china = set(session.exec(select(ProductApproval.product_id).where(
            ProductApproval.product_id.in_(product_ids), ProductApproval.jurisdiction == "NMPA")))
        holders = dict(session.execute(sa.select(Product.id, Organization.nmpa_holder_id).join(
            Organization, Organization.id == Product.mah_organization_id).where(Product.id.in_(product_ids))).all())
    for cid in case_ids:
        case, v = cases[cid], views[cid]
        if any(r.meddra_version is None for r in v.reactions):
            raise InvalidInput.one(("case_ids",), f"case {cid} was received without a MedDRA version for a reaction "
                                   "(E2B E.i.2.1a is mandatory): send a follow-up that names it, then export")
        for i, (d, (name, lot)) in enumerate(zip(v.drugs, registry.get(case.latest_version_id, []))):
            if name and not d.name_as_reported or lot and not d.batch_lot:
                v.drugs[i] = d.model_copy(update={"name_as_reported": d.name_as_reported or name,
                                                  "batch_lot": d.batch_lot or lot})
        china_view = {"approved_in_cn": [None if d.product_id is None else d.product_id in in_china for d in v.drugs],
                      "holder_ids": [holders.get(d.product_id) for d in v.drugs]} if china else {}
        yield v, patients.get(case.patient_id), china_view
