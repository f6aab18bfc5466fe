"""POST /v1/reports with the E2B(R3) case model: a patient the report describes, reported drugs of any role,
several sources, literature, study, tests, identifiers, nullification; what each role may send; clear 422s;
old payloads stored and hashed as before. Both databases."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from pv_service.cases.hashing import content_hash
from pv_service.cases.models import CaseVersion
from tests.api.conftest import report_payload

FULL = {
    "sender_case_id": "SPONT-1", "received_date": "2025-02-01", "latest_info_date": "2025-02-03",
    "report_type": "study", "worldwide_id": "CN-PARTNER-0001", "other_case_ids": ["PARTNER-77"],
    "primary_sources": [{"qualification": "pharmacist", "country": "DE"},
                        {"qualification": "physician", "country": "CN", "primary_for_regulatory": True}],
    "sender": {"type": "1", "organisation": "Partner Pharma"},
    "literature": ["Smith J. A case of ICANS. J Onc 2025;1:1"],
    "study": {"name": "LTFU-X", "number": "S-9", "type": "1", "registrations": [{"number": "NCT0001", "country": "CN"}]},
    "patient": {"initials": "ZW", "identifiers": ["MRN-123"], "sex": "female", "age": 54, "age_unit": "a",
                "birth_year": 1970, "weight_kg": 61.5, "height_cm": 162, "death_date": "2025-01-30",
                "medical_history": [{"code": "10020772", "version": "27.1"}, {"text": "DLBCL since 2019"}],
                "medical_history_text": "heavily pre-treated", "past_drugs": ["R-CHOP"],
                "death_causes": [{"text": "ICANS"}], "autopsy": True, "autopsy_causes": [{"text": "cerebral oedema"}],
                "parent": {"sex": "female", "age": 80}},
    "drugs": [
        {"role": "suspect", "name_as_reported": "Testkymr", "dosages": [
            {"lot": "LOT-9", "dose": "1", "dose_unit": "{cells}", "route": "Intravenous", "start": "2025-01-10"}],
         "indications": [{"text": "DLBCL"}], "action_taken": "9",
         "relatedness": [{"source": "PRIMARY SOURCE REPORTER", "method": "Global Introspection", "result": "related"}]},
        {"role": "concomitant", "name_as_reported": "Dexamethasone", "substances": ["dexamethasone"]},
        {"role": "not_administered", "product_code": "MSC-1"},
    ],
    "reactions": [{"pt_code": "LOCAL-0002", "pt_name": "ICANS", "onset_date": "2025-01-20",
                   "seriousness": {"death": True}, "outcome": "fatal"}],
    "tests": [{"name": {"text": "ferritin"}, "date": "2025-01", "result": "5400", "unit": "ug/L"}],
    "narrative": "Fatal ICANS.", "reporter_comments": "possibly related", "sender_diagnosis": [{"text": "ICANS"}],
    "sender_comments": "expected per label",
}


def test_a_described_patient_s_case_is_stored_and_read_back(client, world, products):
    r = client.post("/v1/reports", json=FULL, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    assert "ZW" not in r.text and "MRN-123" not in r.text  # kept only as a pseudonym
    got = client.get(f"/v1/reports/{r.json()['id']}", headers=world.safety.headers).json()
    # the receipt (built from memory) is what is stored
    assert got["latest"] == r.json()["latest"] and got["patient_id"] is None
    v = got["latest"]
    assert (v["reporter_qualification"], v["reporter_country"]) == ("physician", "CN")  # the regulatory source
    assert (v["worldwide_id"], v["safety_report_id"], v["report_type"]) == ("CN-PARTNER-0001", "SPONT-1", "study")
    p = v["patient"]
    assert p["pseudonym"] and (p["sex"], p["age"], p["age_unit"], p["weight_kg"], p["death_date"]) == (
        "female", 54.0, "a", 61.5, "2025-01-30")
    d = v["detail"]
    assert [s["qualification_code"] for s in d["sources"]] == ["2", "1"]
    assert d["study"] == {"name": "LTFU-X", "number": "S-9", "type": "1", "registrations": [["NCT0001", "CN"]]}
    assert d["patient"]["autopsy_causes"] == [{"code": None, "version": None, "text": "cerebral oedema",
                                               "null_flavor": None}]
    # D.10 as the E2B importer keeps it: sex as its code, the age as E2B's PQ value in years
    parent = d["patient"]["parent"]
    assert (parent["sex_code"], parent["age"], parent["age_unit"]) == ("2", "80", "a")
    assert d["tests"][0]["date"] == "202501"  # E2B's date form
    assert [x["name"] for x in d["patient"]["past_drugs"]] == ["R-CHOP"]  # a name alone is a D.8.r record
    a, dex, msc = v["drugs"]
    # matched to the registry: Testkymr is CART-1's trade name; MSC-1 by code; dexamethasone is not registered
    assert (a["product_id"], a["batch_lot"], a["detail"]["dosages"][0]["start"]) == (
        products["cart"].id, "LOT-9", "20250110")
    assert (dex["product_id"], dex["role"]) == (None, "concomitant")
    assert (msc["product_id"], msc["role"]) == (products["msc"].id, "not_administered")
    assert v["product_codes"] == ["CART-1", "MSC-1"]
    assert (v["reporter_comments"], v["sender_comments"]) == ("possibly related", "expected per label")
    # the MAH of CART-1 sees it; a clinic that did not send it does not
    assert client.get(f"/v1/reports/{got['id']}", headers=world.mah.headers).status_code == 200
    assert client.get(f"/v1/reports/{got['id']}", headers=world.other_clinic.headers).status_code == 404


def test_an_old_payload_is_stored_and_hashed_as_before(client, session, world, treated):
    patient, treatment = treated
    r = client.post("/v1/reports", json=report_payload(patient["id"], treatment["id"]), headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    v = r.json()["latest"]
    assert v["patient"] is None and v["detail"] is None and v["drugs"][0]["detail"] is None
    stored = session.exec(sa.select(CaseVersion.content_hash)).scalar_one()
    # the definition before the E2B parts: eight version fields, (treatment_id, role) per drug
    before = content_hash(
        {"patient_id": patient["id"], "report_type": "spontaneous", "received_date": dt.date(2025, 2, 1),
         "latest_info_date": dt.date(2025, 2, 1), "reporter_qualification": "physician", "reporter_country": "CN",
         "narrative": "CRS grade 2 on day 2, resolved with tocilizumab.", "transgene_in_tumour": None},
        [{"treatment_id": treatment["id"], "role": "suspect"}],
        [{"pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome", "onset_date": dt.date(2025, 1, 12),
          "meddra_version": None, "llt_code": None, "llt_name": None, "death": False, "life_threatening": False,
          "hospitalisation": True, "disability": False, "congenital_anomaly": False,
          "other_medically_important": False, "outcome": "recovered", "grade": 2, "grade_scale": "astct",
          "causality": "related"}])
    assert stored == before


@pytest.mark.parametrize("change, loc, words", [
    ({"patient": {"patient_id": 1, "sex": "male"}}, ["body", "patient"], "not both"),
    ({"patient": {"age": 3}}, ["body", "patient"], "age and age_unit"),
    ({"patient": {"weight_kg": 70}}, ["body", "patient"], "identifiable patient"),
    ({"nullification": "nullification"}, ["body"], "nullification_reason"),
    ({"drugs": [{"role": "suspect"}]}, ["body", "drugs", 0], "treatment_id, or the drug as reported"),
    ({"reporter": {"country": "CN"}}, ["body"], "not both"),
    ({"tests": [{"name": {"text": "x"}, "date": "2025-13"}]}, ["body", "tests", 0, "date"], "pattern"),
    ({"drugs": [{"treatment_id": 999, "role": "suspect"}]}, ["body", "drugs", 0, "treatment_id"], "no such"),
    ({"patient": {"sex": "female", "death_date": "2026-12-31"}}, ["body", "patient", "death_date"], "future"),
    ({"patient": {"sex": "female", "past_drugs": [{"product_code": "X"}]}}, ["body", "patient", "past_drugs", 0],
     "Field required"),
    ({"patient": {"sex": "female", "gestation_period": "twelve"}}, ["body", "patient", "gestation_period"], "pattern"),
    ({"patient": {"sex": "female", "parent": {"age": 30, "age_unit": "y"}}}, ["body", "patient", "parent", "age_unit"],
     "Input should be"),
    ({"drugs": [{"name_as_reported": "X", "matrix": [{"recurrence": "9"}]}]},
     ["body", "drugs", 0, "matrix", 0, "recurrence"], "Input should be"),
    ({"drugs": [{"name_as_reported": "X", "authorisation_country": "usa"}]},
     ["body", "drugs", 0, "authorisation_country"], "pattern"),
    ({"drugs": [{"name_as_reported": "X", "dosages": [{"frequency": "-1"}]}]},
     ["body", "drugs", 0, "dosages", 0, "frequency"], "pattern"),
    ({"reactions": [{"pt_code": "P", "pt_name": "x", "end_date": "2025-13"}]}, ["body", "reactions", 0, "end_date"],
     "pattern"),
    ({"first_sender": "3"}, ["body", "first_sender"], "Input should be"),
    ({"fda": {"race": ["C41260"], "colour": "x"}}, ["body", "fda", "colour"], "Extra inputs"),
    ({"tests": [{"name": {"text": "x"}, "result_code": "5"}]}, ["body", "tests", 0, "result_code"], "Input should be"),
])
def test_bad_e2b_parts_get_a_422_naming_the_field(client, world, products, change, loc, words):
    r = client.post("/v1/reports", json={**FULL, **change}, headers=world.clinic.headers)
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]
    assert any(p["loc"][:len(loc)] == loc and words in p["msg"] for p in problems), problems


def test_what_an_mah_may_send(client, world, products, treated):
    patient, treatment = treated
    mah = world.mah.headers
    r = client.post("/v1/reports", json=report_payload(patient["id"], treatment["id"]), headers=mah)
    assert r.status_code == 403 and "describes the patient" in r.json()["detail"]
    only_msc = {**FULL, "drugs": [{"role": "suspect", "product_code": "MSC-1"}]}  # MAH B's product
    r = client.post("/v1/reports", json=only_msc, headers=mah)
    assert r.status_code == 403 and "own products" in r.json()["detail"]
    r = client.post("/v1/reports/batch", json={"reports": [FULL, only_msc]}, headers=mah)
    assert [(x["status"], x["outcome"]) for x in r.json()["results"]] == [(201, "created"), (403, "forbidden")]
    # admins and safety officers send no reports
    assert client.post("/v1/reports", json=FULL, headers=world.safety.headers).status_code == 403


def test_a_nullification_sent_as_json_leaves_the_statistics(client, session, world, products):
    from pv_service.signals.dataset import pair_counts

    h = world.clinic.headers
    assert client.post("/v1/reports", json=FULL, headers=h).status_code == 201
    assert set(pair_counts(session)["product"]) == {"CART-1"}
    nullified = {**FULL, "version": 1, "nullification": "nullification", "nullification_reason": "duplicate"}
    r = client.post("/v1/reports", json=nullified, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["latest"]["nullification"] == "nullification"
    session.expire_all()
    assert pair_counts(session).empty
    # still readable
    assert client.get(f"/v1/reports/{r.json()['id']}", headers=h).json()["latest"]["nullification_reason"] == "duplicate"
