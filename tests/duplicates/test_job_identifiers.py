"""The nightly job's identifier step on stored E2B identifiers (C.1.8.1, C.1.9.1.r.2), incremental."""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from pv_service.cases.models import CaseVersion
from pv_service.duplicates.job import duplicate_detection
from pv_service.duplicates.models import DuplicatePair, DuplicateScan
from tests.conftest import NOW
from tests.duplicates.conftest import (  # noqa: F401
    CRS,
    NEUTROPENIA,
    RULES,
    products,
    register,
    send,
    treat,
)


def _case(client, world, actor, local, birth, reactions):
    p = register(client, actor, local, birth_year=birth)
    t = treat(client, actor, p["id"], "CART-1", "2026-04-01", batch=f"LOT-{local}")
    return send(client, actor, p, t, f"{local}-CASE", reactions)["id"]


def test_worldwide_and_other_identifiers_pair_cases_the_model_would_not(client, session, world, products):  # noqa: F811
    a = _case(client, world, world.clinic, "I-1", 1940, [NEUTROPENIA])
    b = _case(client, world, world.other_clinic, "I-2", 1990, [CRS])  # nothing alike but the identifier
    c = _case(client, world, world.other_clinic, "I-3", 1975, [CRS])
    session.execute(sa.update(CaseVersion).where(CaseVersion.case_id.in_([a, b])).values(worldwide_id="CN-X-2026-1"))
    session.commit()
    first = duplicate_detection(session, NOW, RULES)
    session.commit()
    assert first["identifier_pairs"] == 1 and first["cases_scanned"] == 3
    pair = session.exec(select(DuplicatePair)).one()
    assert (pair.case_a, pair.case_b, pair.method) == (a, b, "worldwide_id")
    assert pair.detail == {"rule": "worldwide_id", "shared": "CN-X-2026-1"}
    # A later case naming case c's sender case id among its other identifiers (C.1.9.1.r.2).
    d = _case(client, world, world.clinic, "I-4", 1960, [NEUTROPENIA])
    session.execute(sa.update(CaseVersion).where(CaseVersion.case_id == d).values(
        source_format="e2b", detail={"other_case_ids": ["I-3-CASE"]}))
    session.commit()
    second = duplicate_detection(session, NOW, RULES)
    session.commit()
    assert second["cases_scanned"] == 1  # only what arrived since the last run
    assert session.get(DuplicateScan, 1).last_version_id == session.exec(sa.select(sa.func.max(CaseVersion.id))).one()[0]
    methods = {(p.case_a, p.case_b): p.method for p in session.exec(select(DuplicatePair))}
    assert methods[(c, d)] == "other_identifier"
