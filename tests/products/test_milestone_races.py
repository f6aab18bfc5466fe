"""Concurrent PUTs of one milestone: one row per (obligation, kind), the losers of a first write get 409."""
from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa
from sqlmodel import Session, select

from pv_service.auth.principal import Principal
from pv_service.common.vocab import Role
from pv_service.products import service
from pv_service.products.models import ConfirmatoryObligation, ObligationMilestone, Product
from pv_service.products.schemas import MilestoneIn
from tests.api.conftest import products  # noqa: F401
from tests.conftest import NOW

KINDS = ("first_patient_in", "enrolment_complete")


def test_concurrent_first_milestone_writes_store_one_row(db, session, world, products):  # noqa: F811
    obligation = ConfirmatoryObligation(product_id=products["cart"].id, jurisdiction="FDA", description="trial",
                                        due_date=dt.date(2028, 1, 1), created_at=NOW)
    session.add(obligation)
    session.commit()
    principal = Principal(world.mah.user.id, "mah-a", Role.mah, world.mah.org_id)
    start = threading.Barrier(8)
    outcomes = [None] * 8

    def put(i):
        with Session(db) as s:
            product = s.get(Product, products["cart"].id)
            start.wait(timeout=30)
            try:
                service.set_milestone(s, product, obligation.id, "first_patient_in",
                                      MilestoneIn(planned_date=dt.date(2026, 1, 1 + i)), NOW, KINDS, principal)
                s.commit()
                outcomes[i] = "ok"
            except sa.exc.IntegrityError:  # the API answers it 409 (app.integrity_error)
                s.rollback()
                outcomes[i] = 409

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = session.exec(select(ObligationMilestone).where(ObligationMilestone.obligation_id == obligation.id)).all()
    assert len(rows) == 1, outcomes
    assert "ok" in outcomes and set(outcomes) <= {"ok", 409}
