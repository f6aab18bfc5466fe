"""A case sent as JSON and the same case sent as E2B(R3) are stored alike: FDA's Scenario 1, its JSON
written by hand from the XML (line numbers of FAERS2022Scenario1.xml beside each part); both databases."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion
from tests.e2b.conftest import fda
from tests.e2b.rich import rich_icsr
from tests.e2b.test_import import post

JSON_KEY = "US-APHARMA-8744554B-AS-JSON"  # the same sender, so a second case key (pseudonyms are keyed per sender)

RELATED_A = [  # G.k.9.i of Drug A: two assessments, one per reaction
    {"reaction_ref": "154eb889-958b-45f2-a02f-42d4d6f4657f", "source": "PHARMACEUTICAL COMPANY",
     "method": "Global Introspection", "result": "Not Suspected"},
    {"reaction_ref": "154eb889-958b-45f2-a02f-42d4d6f4555f", "source": "PRIMARY SOURCE REPORTER",
     "method": "Global Introspection", "result": "Suspected"}]
RELATED_B = [
    {"reaction_ref": "154eb889-958b-45f2-a02f-42d4d6f4555f", "source": "PHARMACEUTICAL COMPANY",
     "method": "Global Introspection", "result": "Not Suspected"},
    {"reaction_ref": "154eb889-958b-45f2-a02f-42d4d6f4657f", "source": "PRIMARY SOURCE REPORTER",
     "method": "Global Introspection", "result": "Not Suspected"}]

SCENARIO1_AS_JSON = {
    "sender_case_id": JSON_KEY, "worldwide_id": "US-APHARMA-8744554B",  # C.1.1 / C.1.8.1
    "report_type": "spontaneous", "received_date": "2022-06-14", "latest_info_date": "2022-06-14",
    "primary_sources": [{"qualification": "physician", "country": "US", "primary_for_regulatory": True}],
    "sender": {"type": "1", "organisation": "Big Pharma Drug"},  # C.3.1, C.3.2
    "additional_documents": False, "expedited": True,  # C.1.6.1 (l. 716), C.1.7 (l. 723)
    "first_sender": "1",  # C.1.8.2 regulator (l. 748)
    # FDA.C.1.7.1 15-day (l. 730), FDA.C.1.12 (l. 737); FDA.D.11.r races (l. 90, 97), FDA.D.12 ethnicity (l. 104)
    "fda": {"local_report_type": "1", "combination_product": False, "race": ["C41260", "C41219"],
            "ethnicity": "C41222"},
    # D: "JD" (l. 65), male, born 2001, 48 years at onset, adult; D.7.2 "None"; D.8 CureAll with its code (l. 129)
    "patient": {"initials": "JD", "sex": "male", "birth_year": 2001, "age": 48, "age_unit": "a", "age_group": "5",
                "medical_history_text": "None",
                "past_drugs": [{"name": "CureAll", "product_code": "59762-2858",
                                "code_system": "2.16.840.1.113883.6.69"}]},
    "drugs": [
        {"role": "suspect", "ref": "68d6f5ce-3b3b-45c7-92dd-69e06730c3a9", "name_as_reported": "Drug A",
         "product_code": "59762-2858", "code_system": "2.16.840.1.113883.6.69", "substances": ["Ingredient A"],
         "authorisation_number": "NDA012345", "authorisation_country": "US",  # G.k.3.1, G.k.3.2 (l. 353)
         "obtained_country": "US",  # G.k.2.4 (l. 375)
         "holder": "Big Pharma A Drug",
         # G.k.4.r.10.1/.2a/.2b (l. 388); the dates asked, not known (l. 387)
         "dosages": [{"lot": "UNKNOWN", "route": "Oral", "route_code": "001", "route_version": "2014.10.30",
                      "period_null_flavor": "ASKU"}],
         "indications": [{"text": "Embolism venous"}], "action_taken": "0", "relatedness": RELATED_A},
        {"role": "suspect", "ref": "59d6f5ce-3b3b-45c7-92dd-69e06730c2b7", "name_as_reported": "Drug B",
         "product_code": "894444-28525-765", "code_system": "2.16.840.1.113883.6.69", "substances": ["Ingredient B"],
         "authorisation_number": "NDA012567", "authorisation_country": "US",  # l. 476
         "holder": "Big Pharma B Drug", "relatedness": RELATED_B},
        {"role": "concomitant", "ref": "40d6f5ce-3b3b-45c7-92dd-69e06730c2b6", "name_as_reported": "Drug C",
         "holder": "Big Pharma C Drug"},
    ],
    # E.i: MedDRA 25.0 LLTs with their reported (French) terms; no dictionary loaded, so the LLT code stands
    # for the PT as the importer stores it. Ids (l. 141, 233), country US (E.i.9), the term for translation
    # (E.i.1.2), highlighted 3 "yes, serious" (E.i.3.1); FDA.E.i.3.2h sent as nullFlavor NI
    "reactions": [
        {"ref": "154eb889-958b-45f2-a02f-42d4d6f4657f", "meddra_version": "25.0", "llt_code": "10027940",
         "pt_code": "10027940", "pt_name": "THROMBOSE VEINEUSE PROFONDE", "onset_date": "2014-10-10",
         "outcome": "not_recovered", "seriousness": {"disability": True, "other_medically_important": True},
         "country": "US", "translation": "THROMBOSE VEINEUSE PROFONDE", "highlighted": "3",
         "required_intervention_null_flavor": "NI"},
        {"ref": "154eb889-958b-45f2-a02f-42d4d6f4555f", "meddra_version": "25.0", "llt_code": "10009896",
         "pt_code": "10009896", "pt_name": "COLITE ISCHEMIQUE", "onset_date": "2014-10-10", "outcome": "recovered",
         "seriousness": {"other_medically_important": True},
         "country": "US", "translation": "COLITE ISCHEMIQUE", "highlighted": "3",
         "required_intervention_null_flavor": "NI"},
    ],
    "narrative": "Case Narrative Including Clinical Course, Therapeutic Measures, Outcome and Additional Relevant "
                 "Information",
    "reporter_comments": "Repoeter Comments", "sender_comments": "Sender Comments",  # H.2 (sic), H.4
}

_A, _B, _C = SCENARIO1_AS_JSON["drugs"]
_R1, _R2 = SCENARIO1_AS_JSON["reactions"]
# tests/e2b/rich.py: Scenario 1 with every section FDA's instances lack, by hand from its fragments (named beside)
RICH_AS_JSON = {
    **SCENARIO1_AS_JSON, "sender_case_id": JSON_KEY + "-RICH",
    "nullification": "amendment", "nullification_reason": "lot number corrected",  # AMENDMENT
    "documents": ["discharge letter"], "literature": ["Doe J. Thrombosis after cell therapy. J Cell Ther. 2014;1:1-2."],
    "primary_sources": [*SCENARIO1_AS_JSON["primary_sources"], {"qualification": "consumer", "country": "GB"}],
    "linked_reports": ["US-APHARMA-0001"],  # SECOND_SOURCE
    "other_case_ids": [{"source": "EVHUMAN", "id": "EU-EC-123"}],  # OTHER_IDS
    "study": {"name": "Long-term follow-up of CAR-T recipients", "number": "CT-7", "type": "2",
              "registrations": [{"number": "NCT00000007", "country": "US"}]},  # STUDY
    "patient": {
        **SCENARIO1_AS_JSON["patient"], "death_date": "2014-10-20",  # D.9.1
        "last_menstrual_period": "2014-09-01", "gestation_period": "12", "gestation_period_unit": "wk",  # BODY
        "weight_kg": 71.5, "height_cm": 178,
        "medical_history": [{"code": "10020772", "version": "25.0", "start": "2009", "end": "2014-03-01",
                             "continuing": False, "comments": "treated with diet", "family_history": True}],
        "concomitant_therapies": True,  # HISTORY
        "past_drugs": [{"name": "CureAll", "product_code": "59762-2858", "code_system": "2.16.840.1.113883.6.69",
                        "start": "2009-01-01", "end": "2010-06-01",
                        "indication": {"code": "10001011", "version": "25.0"},
                        "reaction": {"code": "10020321", "version": "25.0"}}],  # PAST_DRUG(_AFTER)
        "death_causes": [{"code": "10038695", "version": "25.0", "text": "respiratory failure"}],
        "autopsy": True, "autopsy_causes": [{"code": "10037377", "version": "25.0", "text": "pulmonary embolism"}],
        # PARENT: the initials "AB" sent as a masked name
        "parent": {"name_null_flavor": "MSK", "sex": "female", "birth_year": 1975, "age": 39, "age_unit": "a",
                   "last_menstrual_period": "2014-01-01", "weight_kg": 60, "height_cm": 165,
                   "medical_history": [{"code": "10012735", "version": "25.0", "start": "2010"}],
                   "past_drugs": ["Folic acid"]},
    },
    "tests": [  # TESTS
        {"name": {"code": "10012661", "version": "25.0", "text": "D-dimer"}, "date": "2014-10-11", "result": "4.2",
         "unit": "mg/L", "low": "0", "high": "0.5", "comments": "repeated on day 3", "more_info": True},
        {"name": {"code": "10047566", "version": "25.0", "text": "venous ultrasound"}, "date": "2014-10-12",
         "result_code": "1", "result_text": "thrombus in the left popliteal vein"}],
    "sender_diagnosis": [{"code": "10051055", "version": "25.0"}],  # DIAGNOSIS
    "drugs": [
        {**_A, "dosages": [*_A["dosages"], {  # DOSAGE
            "lot": "LOT-77A", "route": "Intravenous", "route_code": "042", "dose": "2.5", "dose_unit": "10*6",
            "start": "2014-09-28", "end": "2014-09-29", "frequency": "1", "frequency_unit": "d",
            "text": "one infusion", "form": "suspension for infusion"}],
         "cumulative_dose": "5", "cumulative_dose_unit": "10*6",  # CUMULATIVE
         "matrix": [{"reaction_ref": _R1["ref"], "start_interval": "12", "start_interval_unit": "d",
                     "last_dose_interval": "2", "last_dose_interval_unit": "h", "recurrence": "2"}]},  # MATRIX, RECURRENCE
        _B, _C],
    "reactions": [{**_R1, "end_date": "2014-11-01", "medically_confirmed": True}, _R2],  # REACTION_END, CONFIRMED
}

# Not content: ids, when and how the version came, its hash; C.1.1 is the case key, which must differ here.
HOW_IT_CAME = {"id", "case_id", "case_version_id", "content_hash", "created_at", "source_format", "message_id",
               "message_created", "safety_report_id"}


def _stored(session, key: str) -> tuple[dict, list[dict], list[dict]]:
    case = session.exec(sa.select(Case).where(Case.sender_case_id == key)).scalar_one()
    v = session.get(CaseVersion, case.latest_version_id)
    drugs = session.exec(sa.select(CaseDrug).where(CaseDrug.case_version_id == v.id).order_by(CaseDrug.id)).scalars()
    reactions = session.exec(sa.select(CaseReaction).where(CaseReaction.case_version_id == v.id)
                             .order_by(CaseReaction.id)).scalars()

    def row(obj):
        return {k: val for k, val in obj.model_dump().items() if k not in HOW_IT_CAME}

    return row(v), [row(d) for d in drugs], [row(r) for r in reactions]


@pytest.mark.parametrize("xml, body", [(lambda: fda("Scenario1.xml"), SCENARIO1_AS_JSON), (rich_icsr, RICH_AS_JSON)],
                         ids=["scenario1", "rich"])
def test_the_case_as_json_is_stored_as_the_e2b_import_stores_it(client, session, world, schema_settings, xml, body):
    r = post(client, world.clinic, xml(), json=True)
    assert r.json()["acknowledgement"] == "AA", r.text
    r = client.post("/v1/reports", json=body, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    session.expire_all()
    e2b_version, e2b_drugs, e2b_reactions = _stored(session, "US-APHARMA-8744554B")
    json_version, json_drugs, json_reactions = _stored(session, body["sender_case_id"])
    assert e2b_version["detail"].pop("receiver") == "CDER"  # N.2.r.3: the message's receiver, not the case's
    assert json_version["detail"].pop("receiver") is None
    # C.1.4 and C.1.5 came with a time and an offset, kept for the export; the JSON report's are days
    assert (e2b_version["detail"].pop("received_as_sent"), e2b_version["detail"].pop("latest_info_as_sent")) == (
        "20220614101010-0500", "20220614101010-0500")
    assert json_version == e2b_version
    assert json_drugs == e2b_drugs
    # The JSON coding as reported keeps the PT code it was sent with; E2B sends none.
    assert [x.pop("reported_pt_code") for x in json_reactions] == ["10027940", "10009896"]
    assert [x.pop("reported_pt_code") for x in e2b_reactions] == [None, None]
    assert json_reactions == e2b_reactions
    # and reads alike
    views = [client.get(f"/v1/reports/{i}", headers=world.clinic.headers).json()["latest"]
             for i in (r.json()["id"] - 1, r.json()["id"])]
    assert views[0]["patient"] == views[1]["patient"] and views[1]["patient"]["pseudonym"]
    assert views[0]["drugs"] == views[1]["drugs"] and {**views[0]["detail"], "receiver": None} == {
        **views[1]["detail"], "received_as_sent": "20220614101010-0500", "latest_info_as_sent": "20220614101010-0500"}
    assert "JD" not in r.text and "JD" not in str(views[1]) and "AB" not in str(views[1]["detail"])


def test_resending_the_json_case_is_unchanged_and_a_changed_field_conflicts(client, world):
    h = world.clinic.headers
    assert client.post("/v1/reports", json=SCENARIO1_AS_JSON, headers=h).status_code == 201
    assert client.post("/v1/reports", json=SCENARIO1_AS_JSON, headers=h).status_code == 200
    changed = {**SCENARIO1_AS_JSON, "patient": {**SCENARIO1_AS_JSON["patient"], "weight_kg": 80}}
    r = client.post("/v1/reports", json=changed, headers=h)
    assert r.status_code == 409, r.text
    lot = {**SCENARIO1_AS_JSON, "drugs": [{**SCENARIO1_AS_JSON["drugs"][0], "dosages": [{"lot": "L-2"}]},
                                          *SCENARIO1_AS_JSON["drugs"][1:]]}
    assert client.post("/v1/reports", json=lot, headers=h).status_code == 409


def test_an_mah_sends_the_case_about_its_product(client, world, fda_product):
    """Drug A (59762-2858) is MAH A's registered product: MAH A may send the case, MAH B may not."""
    body = {**SCENARIO1_AS_JSON, "sender_case_id": "MAH-A-1"}
    r = client.post("/v1/reports", json=body, headers=world.other_mah.headers)
    assert r.status_code == 403 and "own products" in r.json()["detail"], r.text
    r = client.post("/v1/reports", json=body, headers=world.mah.headers)
    assert r.status_code == 201, r.text
    a = r.json()["latest"]["drugs"][0]
    assert (a["product_id"], a["reported_product_code"], a["treatment_id"]) == (fda_product.id, "59762-2858", None)
    assert r.json()["latest"]["product_codes"] == ["59762-2858"]
    case_id = r.json()["id"]
    assert client.get(f"/v1/reports/{case_id}", headers=world.mah.headers).status_code == 200
    assert client.get(f"/v1/reports/{case_id}", headers=world.other_mah.headers).status_code == 404
    assert client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).status_code == 404
    assert client.get(f"/v1/reports/{case_id}", headers=world.safety.headers).status_code == 200


def test_an_imported_case_counts_in_the_statistics_with_its_patient_s_strata(client, session, world, schema_settings,
                                                                              fda_product):
    """Scenario 1 names Drug A, registered here: its case (male, 48 years at onset) is counted."""
    from pv_service.signals.dataset import pair_counts

    assert post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["acknowledgement"] == "AA"
    frame = pair_counts(session, strata=["sex", "age_band"])
    assert set(frame["product"]) == {"59762-2858"} and set(frame["event"]) == {"10027940", "10009896"}
    assert set(zip(frame["sex"], frame["age_band"], frame["a"], frame["n_total"])) == {("male", "18-64", 1, 1)}
