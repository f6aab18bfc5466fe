"""Cases without a registered patient (described in the report, JSON or E2B) count in every statistic and
queue, once each, with their strata from the case's own patient fields; a nullified case in none. Both DBs."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from pv_service.cases.clocks import clock_cases
from pv_service.cases.models import Case
from pv_service.products.models import Product, ProductApproval
from pv_service.signals.dataset import pair_counts
from pv_service.signals.job import case_rows
from tests.conftest import NOW


@pytest.fixture
def cohort(client, session, world):
    """X of MAH A (approved by NMPA). Reports received in 2025; events coded CRS or ICANS.

    case  patient                                  sex      age band  drug (role)     event
    R1    registered, born 1960 (65 in 2025)       female   65+       X (treatment)   CRS
    D1    described, 30 a                          male     18-64     X (by code)     CRS
    D2    described, 200 mo (16.7 years)           female   0-17      X (by trade)    ICANS
    D3    described, age group 6 (elderly)         female   65+       X (by INN)      CRS
    D4    described, born 2015 (10 in 2025)        male     0-17      x (code, case)  ICANS
    D5    described by initials only               unknown  unknown   X               CRS
    N1    described, 40 a, nullified by version 1  male     -         X               CRS
    U1    described, 50 a, drug not registered     male     18-64     "Other drug"    CRS
    """
    x = Product(code="X-1", inn="xcabtagene", trade_name="Xkymr", modality="car_t", mah_organization_id=world.mah_a.id,
                created_at=NOW)
    session.add(x)
    session.flush()
    session.add(ProductApproval(product_id=x.id, jurisdiction="NMPA", approval_date=dt.date(2020, 1, 1),
                                approval_type="full", indication="x"))
    session.commit()
    h = world.clinic.headers
    p = client.post("/v1/patients", json={"local_id": "R1", "sex": "female", "birth_year": 1960}, headers=h).json()
    t = client.post("/v1/treatments", json={"patient_id": p["id"], "product_code": "X-1", "batch_number": "B",
                                            "infusion_date": "2025-01-01"}, headers=h).json()

    def send(key, patient, drug, event, version=0, **extra):
        body = {"sender_case_id": key, "version": version, "received_date": "2025-03-01",
                "reporter": {"qualification": "physician"}, "patient": patient, "drugs": [drug],
                "reactions": [{"pt_code": event, "pt_name": event, "seriousness": {"hospitalisation": True}}], **extra}
        r = client.post("/v1/reports", json=body, headers=h)
        assert r.status_code == 201, r.text
        return r.json()

    send("R1", {"patient_id": p["id"]}, {"treatment_id": t["id"]}, "CRS")
    send("D1", {"initials": "AB", "sex": "male", "age": 30, "age_unit": "a"}, {"product_code": "X-1"}, "CRS")
    send("D2", {"sex": "female", "age": 200, "age_unit": "mo"}, {"name_as_reported": "XKYMR"}, "ICANS")
    send("D3", {"sex": "female", "age_group": "6"}, {"name_as_reported": "Xcabtagene"}, "CRS")
    send("D4", {"sex": "male", "birth_year": 2015}, {"product_code": "x-1"}, "ICANS")
    send("D5", {"initials": "CD"}, {"product_code": "X-1"}, "CRS")
    send("N1", {"sex": "male", "age": 40, "age_unit": "a"}, {"product_code": "X-1"}, "CRS")
    send("N1", {"sex": "male", "age": 40, "age_unit": "a"}, {"product_code": "X-1"}, "CRS", version=1,
         nullification="nullification", nullification_reason="duplicate of D1")
    send("U1", {"sex": "male", "age": 50, "age_unit": "a"}, {"name_as_reported": "Other drug"}, "CRS")
    return x


def test_every_case_counts_once_and_a_nullified_one_not_at_all(session, cohort):
    frame = pair_counts(session).set_index(["product", "event"])
    # X: R1, D1-D5 (N1 nullified; U1 names no registered product).  CRS: R1, D1, D3, D5, U1.  ICANS: D2, D4.
    # Background: 7 cases (R1, D1-D5, U1).
    assert sorted(frame.index) == [("X-1", "CRS"), ("X-1", "ICANS")]
    assert tuple(frame.loc[("X-1", "CRS"), ["a", "n_product", "n_event", "n_total"]]) == (4, 6, 5, 7)
    assert tuple(frame.loc[("X-1", "ICANS"), ["a", "n_product", "n_event", "n_total"]]) == (2, 6, 2, 7)


def test_strata_come_from_the_case_s_own_patient_when_unregistered(session, cohort):
    frame = pair_counts(session, strata=["sex", "age_band"]).set_index(["product", "event", "sex", "age_band"])
    cols = ["a", "n_product", "n_event", "n_total"]
    # female 65+: R1 (registered, 2025 - 1960), D3 (age group elderly): both X + CRS
    assert tuple(frame.loc[("X-1", "CRS", "female", "65+"), cols]) == (2, 2, 2, 2)
    # male 18-64: D1 (30 a, X + CRS) and U1 (50 a, unregistered drug, CRS): in the background, not with X
    assert tuple(frame.loc[("X-1", "CRS", "male", "18-64"), cols]) == (1, 1, 2, 2)
    # female 0-17: D2 (200 months); male 0-17: D4 (2025 - 2015)
    assert tuple(frame.loc[("X-1", "ICANS", "female", "0-17"), cols]) == (1, 1, 1, 1)
    assert tuple(frame.loc[("X-1", "ICANS", "male", "0-17"), cols]) == (1, 1, 1, 1)
    # D5: neither sex nor age was reported
    assert tuple(frame.loc[("X-1", "CRS", "unknown", "unknown"), cols]) == (1, 1, 1, 1)
    assert len(frame) == 5


def test_signal_job_rows_and_reporting_clocks_hold_every_case_but_the_nullified(session, cohort):
    rows = case_rows(session)
    keys = {"R1", "D1", "D2", "D3", "D4", "D5"}
    ids = {c.id: c.sender_case_id for c in session.exec(select(Case)).all()}
    assert {ids[i] for i in rows["case_id"]} == keys
    clocks = clock_cases(session)
    assert {ids[i] for i in clocks["case_id"]} == keys and set(clocks["jurisdiction"]) == {"NMPA"}


def test_the_compliance_export_counts_described_patients_cases(session, cohort):
    from pv_service.exports.queries import load_product_inputs
    from pv_service.jobs.definitions import current_rules

    inputs = load_product_inputs(session, cohort, current_rules(), dt.date(2026, 11, 1), dt.date(2025, 1, 1))
    assert sorted(inputs.cases["sender_case_id"]) == ["D1", "D2", "D3", "D4", "D5", "R1"]
    assert sorted(inputs.reactions["pt_code"]) == ["CRS", "CRS", "CRS", "CRS", "ICANS", "ICANS"]
