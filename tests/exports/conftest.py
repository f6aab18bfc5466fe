"""A small cohort whose compliance figures are worked out by hand (see EXPECTED in test_compliance_export.py).

As of 2026-11-23 (the fixtures' NOW); default interval 2025-11-24 .. 2026-11-23.
CART-1 (MAH A, car_t_lifelong plan: D28 +-7 d grace 14, M3 +-7 grace 21, M6 +-14 grace 30,
M12 and yearly +-30 grace 60; lost after 2 consecutive missed yearly timepoints or 24
months without contact), approved by NMPA only (clocks: death 1 day, serious 15, other 30).

  P1 infused 2024-11-01: D28 11-29, M3 2025-02-01, M6 05-01, M12 11-01 (screening negative),
     unscheduled 2026-03-15 (screening indeterminate; M12's grace ended 2026-01-30, Y2's
     window opens 2026-10-02), Y2 2026-10-20 (due 11-01, screening negative). Active.
  P2 infused 2023-06-10: D28 07-08, M3 09-10, M6 12-10, then nothing: M12 (due 2024-06-10),
     Y2 (2025-06-10) and Y3 (2026-06-10, grace ended 09-08) missed. Lost to follow-up.
  P3 infused 2025-03-01: D28 03-29, M3 visit 06-20 (window 05-25..06-08, grace to 06-29:
     late), death 2025-08-20 (M6 due 09-01 not expected). Deceased.
  P4 infused 2026-10-01: no visit; D28 due 10-29 (window to 11-05, grace to 11-19): missed.
     Active.
  P5 infused 2025-06-01: D28 06-29, M3 09-01, withdrawn 2025-12-01 (M6 window open then:
     not expected). Withdrawn.
  P6 infused 2026-01-15: D28 2026-02-12 (no screening recorded), transferred 2026-05-01
     (M3 grace to 05-13: not expected). Transferred.
  P7 (clinic B) MSC-1 of MAH B, infused 2026-01-01, with a case: must never show in CART-1.

Cases (suspect CART-1 unless said), by first receipt:
  C5 P1 2025-01-05 Fatigue, non-serious                            (before the interval)
  C2 P3 2025-08-22 Cytokine release syndrome, death, fatal          (before the interval)
  C1 P1 2026-01-10 Neutropenia: v0 non-serious, v1 adds hospitalisation -> serious;
     submitted to NMPA 2026-01-20 (due 01-25): on time
  C3 P2 2026-05-05 T-cell lymphoma (hospitalisation, other medically important, not
     recovered, transgene yes) + Pyrexia (hospitalisation); submitted 05-25 (due 05-20): late
  C4 P4 2026-10-15 Made-up event (not in the term file), non-serious; not submitted,
     due 11-14: pending, overdue by 9 days
  C6 P1 2026-11-20 Pyrexia, non-serious; due 12-20: pending, 27 days left
  C7 P7 2026-03-01 Neoplasm (MSC-1)
"""
from __future__ import annotations

import datetime as dt

import pytest

from pv_service.alerting.models import Alert
from pv_service.demo import dictionary as demo_dictionary
from pv_service.meddra.loader import load
from pv_service.products.models import ConfirmatoryObligation, ObligationMilestone, ProductApproval
from pv_service.rsi.models import RsiTerm, RsiVersion
from pv_service.rsi.service import assess_pending
from tests.api.conftest import products, register, report_payload, treat  # noqa: F401
from tests.conftest import NOW


def utc(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=dt.timezone.utc)


def contact(client, actor, treatment_id: int, day: str, kind: str = "visit", screening: str | None = None) -> dict:
    body = {"treatment_id": treatment_id, "contact_date": day, "kind": kind}
    if screening is not None:
        body["assessments"] = {"malignancy_screening": screening}
    r = client.post("/v1/followup-contacts", json=body, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()


def reaction(pt_name: str, onset: str, outcome: str, code: str = "96000000", **seriousness) -> dict:
    return {"pt_code": code, "pt_name": pt_name, "onset_date": onset, "seriousness": seriousness, "outcome": outcome}


def report(client, actor, patient: dict, treatment: dict, case_id: str, received: str, reactions: list[dict],
           version: int = 0, latest_info: str | None = None, **extra) -> dict:
    payload = report_payload(patient["id"], treatment["id"], case_id=case_id, version=version, received_date=received,
                             reactions=reactions, **extra)
    if latest_info:
        payload["latest_info_date"] = latest_info
    r = client.post("/v1/reports", json=payload, headers=actor.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


def submit(client, actor, case_id: int, day: str, jurisdiction: str = "NMPA") -> None:
    r = client.post(f"/v1/reports/{case_id}/submissions", json={"jurisdiction": jurisdiction, "submitted_date": day},
                    headers=actor.headers)
    assert r.status_code == 201, r.text


@pytest.fixture
def cohort(client, session, world, products):  # noqa: F811
    cart, msc = products["cart"], products["msc"]
    session.add(ProductApproval(product_id=cart.id, jurisdiction="NMPA", approval_date=dt.date(2023, 1, 1),
                                approval_type="conditional", indication="r/r LBCL"))
    session.commit()
    c, cb = world.clinic, world.other_clinic
    p = {i: register(client, c, f"P{i}") for i in range(1, 7)}
    p[7] = register(client, cb, "P7")
    t = {1: treat(client, c, p[1]["id"], "CART-1", "2024-11-01"), 2: treat(client, c, p[2]["id"], "CART-1", "2023-06-10"),
         3: treat(client, c, p[3]["id"], "CART-1", "2025-03-01"), 4: treat(client, c, p[4]["id"], "CART-1", "2026-10-01"),
         5: treat(client, c, p[5]["id"], "CART-1", "2025-06-01"), 6: treat(client, c, p[6]["id"], "CART-1", "2026-01-15"),
         7: treat(client, cb, p[7]["id"], "MSC-1", "2026-01-01")}
    for day in ("2024-11-29", "2025-02-01", "2025-05-01"):
        contact(client, c, t[1]["id"], day)
    contact(client, c, t[1]["id"], "2025-11-01", screening="negative")
    contact(client, c, t[1]["id"], "2026-03-15", screening="indeterminate")
    contact(client, c, t[1]["id"], "2026-10-20", screening="negative")
    for day in ("2023-07-08", "2023-09-10", "2023-12-10"):
        contact(client, c, t[2]["id"], day)
    contact(client, c, t[3]["id"], "2025-03-29")
    contact(client, c, t[3]["id"], "2025-06-20")
    contact(client, c, t[3]["id"], "2025-08-20", kind="death")
    contact(client, c, t[5]["id"], "2025-06-29")
    contact(client, c, t[5]["id"], "2025-09-01")
    contact(client, c, t[5]["id"], "2025-12-01", kind="withdrawal")
    contact(client, c, t[6]["id"], "2026-02-12")
    contact(client, c, t[6]["id"], "2026-05-01", kind="transfer")
    contact(client, cb, t[7]["id"], "2026-01-29", screening="negative")

    cases = {}
    cases[5] = report(client, c, p[1], t[1], "C5", "2025-01-05", [reaction("Fatigue", "2025-01-02", "recovered")])
    cases[2] = report(client, c, p[3], t[3], "C2", "2025-08-22",
                      [reaction("Cytokine release syndrome", "2025-08-15", "fatal", "96000001", death=True)])
    cases[1] = report(client, c, p[1], t[1], "C1", "2026-01-10",
                      [reaction("Neutropenia", "2026-01-05", "recovering", "96000004")])
    report(client, c, p[1], t[1], "C1", "2026-01-10", version=1, latest_info="2026-01-18",
           reactions=[reaction("Neutropenia", "2026-01-05", "recovered", "96000004", hospitalisation=True)])
    cases[3] = report(client, c, p[2], t[2], "C3", "2026-05-05", [
        reaction("T-cell lymphoma", "2026-04-20", "not_recovered", "96000025", hospitalisation=True,
                 other_medically_important=True),
        reaction("Pyrexia", "2026-04-18", "recovered", "96000018", hospitalisation=True),
    ], transgene_in_tumour="yes")
    cases[4] = report(client, c, p[4], t[4], "C4", "2026-10-15", [reaction("Made-up event", "2026-10-10", "recovered",
                                                                           "LOCAL-9999")])
    cases[6] = report(client, c, p[1], t[1], "C6", "2026-11-20", [reaction("Pyrexia", "2026-11-18", "recovering",
                                                                           "96000018")])
    cases[7] = report(client, cb, p[7], t[7], "C7", "2026-03-01",
                      [reaction("Neoplasm", "2026-02-20", "not_recovered", "96000024", other_medically_important=True)])
    submit(client, world.safety, cases[1]["id"], "2026-01-20")
    submit(client, world.safety, cases[3]["id"], "2026-05-25")
    # CART-1's China label lists the non-serious events of C4 and C6, so theirs are "other ADRs" (30
    # days), not new ones (15); assessed as the reporting-clocks job would.
    label = RsiVersion(product_id=cart.id, jurisdiction="NMPA", document="China label", version_label="test",
                       effective_from=dt.date(2023, 1, 1), source="test fixture", created_at=NOW)
    session.add(label)
    session.flush()
    session.add_all([RsiTerm(rsi_version_id=label.id, kind="pt", code=code) for code in ("LOCAL-9999", "96000018")])
    assess_pending(session, NOW)
    session.commit()

    ob1 = ConfirmatoryObligation(product_id=cart.id, jurisdiction="NMPA", description="Confirmatory RCT",
                                 due_date=dt.date(2028, 1, 1), created_at=NOW)
    ob2 = ConfirmatoryObligation(product_id=cart.id, jurisdiction="EMA", description="5-year follow-up data",
                                 due_date=dt.date(2026, 6, 30), created_at=NOW)
    ob3 = ConfirmatoryObligation(product_id=msc.id, jurisdiction="NMPA", description="MSC study",
                                 due_date=dt.date(2027, 1, 1), created_at=NOW)
    session.add_all([ob1, ob2, ob3])
    session.flush()
    session.add_all([
        ObligationMilestone(obligation_id=ob1.id, kind="protocol_agreed", planned_date=dt.date(2025, 1, 1),
                            achieved_date=dt.date(2025, 1, 10), updated_at=NOW),
        ObligationMilestone(obligation_id=ob1.id, kind="first_patient_in", planned_date=dt.date(2026, 6, 1),
                            updated_at=NOW),
        ObligationMilestone(obligation_id=ob1.id, kind="enrolment_complete", planned_date=dt.date(2027, 6, 1),
                            updated_at=NOW),
    ])

    def alert(key, type_, status, product_id, raised, detail, resolved=None, resolution=None):
        return Alert(key=key, type=type_, status=status, severity="high", priority=50.0, title=key,
                     subject_type="pair", product_id=product_id, detail=detail, first_raised_at=utc(raised),
                     last_seen_at=utc(raised), resolved_at=utc(resolved) if resolved else None, resolution=resolution)

    session.add_all([
        alert("signal:dme:CART-1:T-cell malignancies", "signal", "validation", cart.id, "2026-05-06",
              {"product": "CART-1", "event": "T-cell malignancies", "level": "group", "n": 1,
               "rule": "designated_medical_event", "measures": {}}),
        alert("signal:pt:CART-1:Neutropenia", "signal", "closed", cart.id, "2026-02-01",
              {"product": "CART-1", "event": "Neutropenia", "level": "pt", "n": 3, "rule": "statistical",
               "measures": {"prr": 2.5}}, resolved="2026-08-01", resolution="no_action"),
        alert("signal:pt:CART-1:Pyrexia", "signal", "new", cart.id, "2026-11-24",  # raised after the as-of date
              {"product": "CART-1", "event": "Pyrexia", "level": "pt", "n": 3}),
        alert("signal:pt:MSC-1:Neoplasm", "signal", "new", msc.id, "2026-03-02",
              {"product": "MSC-1", "event": "Neoplasm", "level": "pt", "n": 1}),
        alert("followup:lost:1", "followup", "open", cart.id, "2026-10-01", {"treatment_id": 1}),
    ])
    session.commit()
    # The designated-medical-event groups of the rules name HLTs of the demo dictionary: load it
    # (after intake, so the cohort does not depend on how intake checks codes).
    load(session.get_bind(), demo_dictionary.directory(), NOW)
    return {"patients": p, "treatments": t, "cases": {k: v["id"] for k, v in cases.items()}, "products": products}
