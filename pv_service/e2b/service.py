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


def export_cases(session, principal: Principal, case_ids: list[int], profile: str, sender: str, now: dt.datetime,
                 receiver: str | None = None) -> bytes:
    """The latest version of each visible case as one E2B(R3) batch; NotFound names an invisible id."""
    from sqlmodel import select

    from pv_service.cases import service as cases_service
    from pv_service.cases.access import case_filter
    from pv_service.cases.models import Case, CaseDrug, CaseVersion
    from pv_service.common.errors import InvalidInput, NotFound
    from pv_service.e2b.export import build_batch
    from pv_service.patients.models import Patient, Treatment
    from pv_service.products.models import Product

    cases = {c.id: c for c in session.exec(select(Case).where(Case.id.in_(case_ids), case_filter(principal)))}
    missing = [i for i in case_ids if i not in cases]
    if missing:
        raise NotFound(f"no such report: {missing[0]}")
    latest = list(session.exec(select(CaseVersion).where(CaseVersion.id.in_([c.latest_version_id for c in cases.values()]))))
    views = {v.case_id: v for v in cases_service.describe_versions(session, cases, latest)}
    # A registered patient's drugs are its treatments: name and lot from the registry.
    ids = [v.id for v in latest]
    registry = {d.id: (p.trade_name, t.batch_number if t else None) for d, p, t in session.exec(
        select(CaseDrug, Product, Treatment).join(Product, Product.id == CaseDrug.product_id)
        .outerjoin(Treatment, Treatment.id == CaseDrug.treatment_id).where(CaseDrug.case_version_id.in_(ids)))}
    drug_ids: dict[int, list[int]] = {}
    for d in session.exec(select(CaseDrug.id, CaseDrug.case_version_id).where(CaseDrug.case_version_id.in_(ids))
                          .order_by(CaseDrug.id)):
        drug_ids.setdefault(d.case_version_id, []).append(d.id)
    out = []
    for cid in case_ids:
        case, v = cases[cid], views[cid]
        if any(r.meddra_version is None for r in v.reactions):
            raise InvalidInput.one(("case_ids",), f"case {cid} was received without a MedDRA version for a reaction "
                                   "(E2B E.i.2.1a is mandatory): send a follow-up that names it, then export")
        vid = case.latest_version_id
        drugs = []
        for d, row_id in zip(v.drugs, drug_ids.get(vid, [])):
            name, lot = registry.get(row_id, (None, None))
            drugs.append(d.model_copy(update={"name_as_reported": d.name_as_reported or name,
                                              "batch_lot": d.batch_lot or lot}))
        registered = None
        if case.patient_id is not None:
            p = session.get(Patient, case.patient_id)
            registered = {"sex": p.sex, "birth_year": p.birth_year}
        out.append((v.model_copy(update={"drugs": drugs}), registered))
    return build_batch(out, profile, sender, uuid.uuid4().hex, now, receiver)
