"""Export: schema-valid E2B(R3) per profile; export then import gives back the same case."""
from __future__ import annotations

import copy

import pytest

from pv_service.e2b import business_rules, icsr, reader, schema_set
from pv_service.rules import load_rules
from tests.e2b.cn import cn_icsr
from tests.e2b.conftest import SCENARIOS, fda
from tests.e2b.rich import rich_icsr
from tests.e2b.test_business_rules import ROOT
from tests.e2b.test_import import post


def _export(client, actor, case_id, profile="ich"):
    r = client.get(f"/v1/reports/{case_id}/e2b", params={"profile": profile}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.content


@pytest.mark.parametrize("profile", ["ich", "fda", "nmpa"])
def test_export_is_schema_valid_and_meets_the_rules(client, world, schema_settings, ich_xsd, profile):
    # NMPA wants a lot for each suspect product (Scenario 1's Drug B has none: the export is refused, see
    # test_regional_cn.py): Scenario 1 with one, and its CN elements.
    source = cn_icsr() if profile == "nmpa" else fda("Scenario1.xml")
    case_id = post(client, world.clinic, source, json=True).json()["messages"][0]["case_id"]
    data = _export(client, world.clinic, case_id, profile)
    tree = reader.read(data, reader.BATCH_ROOT, 10**7)
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, tree) == []
    (el,) = icsr.messages(tree)
    receiver = icsr.parse_message(el).message_receiver
    assert receiver == {"ich": "ICH", "fda": "CBER", "nmpa": "NMPA"}[profile]
    assert business_rules.check(el, load_rules(ROOT / "alerts").e2b, receiver) == []


def _source(name: str) -> bytes:
    return rich_icsr() if name == "rich" else fda(f"Scenario{name}.xml")


def _stored(version: dict, profile: str) -> dict:
    """The stored case version, less what a round trip may change, and why: ids and times of storage, the
    pseudonym (keyed per sender) and the name's nullFlavor (the service never sends a name, only MSK), the
    receiver the message was addressed to; FDA's regional elements leave only with the fda profile."""
    v = copy.deepcopy(version)
    for key in ("case_id", "created_at", "message_id", "is_latest"):
        v.pop(key)
    if v["patient"]:
        v["patient"].pop("pseudonym")
        v["patient"] = v["patient"] if any(x is not None for x in v["patient"].values()) else None
    v["detail"].pop("receiver")
    v["detail"]["patient"].pop("name_null_flavor")
    if profile != "fda":
        v["detail"].pop("fda")
        for d in v["drugs"]:
            (d["detail"] or {}).pop("fda_other_role", None)  # FDA.G.k.1.a
    return v


@pytest.mark.parametrize("profile", ["fda", "ich"])
@pytest.mark.parametrize("name", [*SCENARIOS, "rich"])
def test_round_trip_keeps_every_stored_field(client, world, schema_settings, ich_xsd, name, profile):
    """Import, export, import again (as another sender): the stored case is the same, field by field."""
    first = post(client, world.clinic, _source(name), json=True).json()
    assert first["acknowledgement"] == "AA", first
    case_id = first["messages"][0]["case_id"]
    original = client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).json()["latest"]
    data = _export(client, world.clinic, case_id, profile)
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, reader.read(data, reader.BATCH_ROOT, 10**7)) == []
    again = post(client, world.other_clinic, data, json=True).json()
    assert again["acknowledgement"] == "AA", [m["errors"] for m in again["messages"]]
    back = client.get(f"/v1/reports/{again['messages'][0]['case_id']}", headers=world.other_clinic.headers).json()
    assert _stored(back["latest"], profile) == _stored(original, profile)


def test_export_many_and_visibility(client, world, schema_settings, ich_xsd):
    a = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    b = post(client, world.clinic, fda("Scenario4.xml"), json=True).json()["messages"][0]["case_id"]
    r = client.post("/v1/e2b/exports", json={"case_ids": [a, b], "profile": "fda"}, headers=world.clinic.headers)
    assert r.status_code == 200
    tree = reader.read(r.content, reader.BATCH_ROOT, 10**7)
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, tree) == [] and len(icsr.messages(tree)) == 2
    assert client.post("/v1/e2b/exports", json={"case_ids": [a]}, headers=world.other_clinic.headers).status_code == 404
    assert client.post("/v1/e2b/exports", json={"case_ids": [a, a]}, headers=world.clinic.headers).status_code == 422


def test_json_report_of_a_registered_patient_exports_and_imports(client, world, schema_settings, ich_xsd, products):
    """An LTFU report (registered patient, treatment) goes out with the product's trade name and the
    treatment's batch (chain of identity) and comes back the same."""
    from tests.api.conftest import register, report_payload, treat

    patient = register(client, world.clinic)
    treatment = treat(client, world.clinic, patient["id"])
    payload = report_payload(patient["id"], treatment["id"])
    r = client.post("/v1/reports", json=payload, headers=world.clinic.headers)
    unversioned = client.get(f"/v1/reports/{r.json()['id']}/e2b", headers=world.clinic.headers)
    assert unversioned.status_code == 422 and "E.i.2.1a" in unversioned.text
    for reaction in payload["reactions"]:
        reaction["meddra_version"] = "27.0"
    r = client.post("/v1/reports", json={**payload, "version": 1}, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    case = r.json()
    data = _export(client, world.clinic, case["id"], "fda")
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, reader.read(data, reader.BATCH_ROOT, 10**7)) == []
    m = post(client, world.other_clinic, data, json=True).json()["messages"][0]
    assert m["acknowledgement"] == "CA", m["errors"]
    back = client.get(f"/v1/reports/{m['case_id']}", headers=world.other_clinic.headers).json()["latest"]
    (drug,) = back["drugs"]
    assert (drug["name_as_reported"], drug["batch_lot"], drug["role"]) == ("Testkymr", "LOT-1", "suspect")
    assert back["patient"]["sex"] == "female" and back["patient"]["birth_year"] == 1970
    assert [x["pt_code"] for x in back["reactions"]] == [x["llt_code"] or x["pt_code"]
                                                         for x in case["latest"]["reactions"]]
    assert back["received_date"] == case["latest"]["received_date"]
    # The clinic's causality ("related") goes out as its G.k.9.i.2.r assessment of the suspect product
    # for that reaction, and comes back as the sender's relatedness assessment.
    sent = icsr.parse_message(icsr.messages(reader.read(data, reader.BATCH_ROOT, 10**7))[0])
    (assessment,) = sent.drugs[0].relatedness
    assert assessment.reaction_ref == sent.reactions[0].ref
    assert (assessment.source, assessment.method, assessment.result) == (
        "Primary source (reporter)", "Global introspection", "related")
    assert [(x["source"], x["result"]) for x in drug["detail"]["relatedness"]] == [("Primary source (reporter)", "related")]


def test_the_rich_case_sent_as_json_exports_and_comes_back_the_same(client, world, schema_settings, ich_xsd):
    """Every E2B section sent through the JSON API leaves in the export and is stored again alike."""
    from tests.e2b.test_json_same_case import RICH_AS_JSON

    r = client.post("/v1/reports", json=RICH_AS_JSON, headers=world.clinic.headers)
    assert r.status_code == 201, r.text
    data = _export(client, world.clinic, r.json()["id"], "fda")
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, reader.read(data, reader.BATCH_ROOT, 10**7)) == []
    again = post(client, world.other_clinic, data, json=True).json()
    assert again["acknowledgement"] == "AA", [m["errors"] for m in again["messages"]]
    back = client.get(f"/v1/reports/{again['messages'][0]['case_id']}", headers=world.other_clinic.headers).json()
    original = {**r.json()["latest"], "source_format": "e2b"}  # how it came, not what it says
    # E2B carries no PT code as reported (E.i.2.1b is the LLT), so the JSON's goes no further
    original["reactions"] = [{**x, "reported_pt_code": None} for x in original["reactions"]]
    # the JSON's term left as the reporter's words (E.i.1.1a) and is kept as such on import
    verbatim = [x.pop("verbatim") for x in back["latest"]["detail"]["reactions"]]
    assert verbatim == [x["pt_name"] for x in original["reactions"]]
    assert _stored(back["latest"], "fda") == _stored(original, "fda")


def test_what_the_sender_said_leaves_as_it_came(client, world, schema_settings, ich_xsd):
    """An onset of 2014 or 201410 (no day for the column), the reporter's own words for one reaction and
    none for the other, a qualification asked but not known (C.2.r.4 UNK), sex not known (D.5 UNK) and a
    masked birth date (D.2.1 MSK): each is stored and leaves in the export as sent, and the export comes
    back as another clinic's case unchanged. (They used to go: no onset, the dictionary's term written
    as the reporter's, the qualification stored as consumer and left out, so the export was refused.)"""
    data = fda("Scenario1.xml")
    data = data.replace(b'<low value="20141010"/>', b'<low value="2014"/>', 1)
    data = data.replace(b'<low value="20141010"/>', b'<low value="201410"/>', 1)
    data = data.replace(b'code="10027940" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="25.0"/>',
                        b'code="10027940" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="25.0">'
                        b'<originalText>clot in my leg</originalText></value>', 1)
    data = data.replace(b'<code code="1" displayName="Physician" codeSystem="2.16.840.1.113883.3.989.2.1.1.6"/>',
                        b'<code nullFlavor="UNK"/>', 1)
    data = data.replace(b'<administrativeGenderCode code="1" displayName="Male" codeSystem="1.0.5218"/>',
                        b'<administrativeGenderCode nullFlavor="UNK"/>', 1)
    data = data.replace(b'<birthTime value="20010615"/>', b'<birthTime nullFlavor="MSK"/>', 1)
    assert data.count(b"clot in my leg") == 1 and b'<low value="201410"/>' in data
    body = post(client, world.clinic, data, json=True).json()
    assert body["acknowledgement"] == "AA", body
    case_id = body["messages"][0]["case_id"]
    stored = client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).json()["latest"]
    assert stored["reporter_qualification"] == "unknown"
    assert [x["onset_date"] for x in stored["reactions"]] == [None, None]
    assert [x.get("start") for x in stored["detail"]["reactions"]] == ["2014", "201410"]
    assert [x.get("verbatim") for x in stored["detail"]["reactions"]] == ["clot in my leg", None]

    out = icsr.parse_message(icsr.messages(reader.read(_export(client, world.clinic, case_id), reader.BATCH_ROOT,
                                                       10**7))[0])
    assert [(x.start, x.verbatim) for x in out.reactions] == [("2014", "clot in my leg"), ("201410", None)]
    assert (out.received, out.latest_info) == ("20220614101010-0500", "20220614101010-0500")  # C.1.4, C.1.5
    primary = next(s for s in out.sources if s.primary_for_regulatory)
    assert (primary.qualification, primary.qualification_null_flavor) == (None, "UNK")
    assert (out.patient.sex_code, out.patient.sex_null_flavor, out.patient.birth_null_flavor) == (None, "UNK", "MSK")

    data = _export(client, world.clinic, case_id)
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, reader.read(data, reader.BATCH_ROOT, 10**7)) == []
    again = post(client, world.other_clinic, data, json=True).json()
    assert again["acknowledgement"] == "AA", [m["errors"] for m in again["messages"]]
    back = client.get(f"/v1/reports/{again['messages'][0]['case_id']}", headers=world.other_clinic.headers).json()
    assert _stored(back["latest"], "ich") == _stored(stored, "ich")


def test_linked_reports_are_read_and_written_as_ich_codes_them(client, world, schema_settings, ich_xsd):
    """C.1.10.r is a relatedInvestigation whose code is nullFlavor NA (FDA's scenario 4, lines 604-636):
    the reader looked for a code 3 no code list has, so FDA's three linked reports were dropped, and the
    export wrote that code."""
    body = post(client, world.clinic, fda("Scenario4.xml"), json=True).json()
    assert body["acknowledgement"] == "AA", body
    case_id = body["messages"][0]["case_id"]
    stored = client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).json()["latest"]
    linked = ["US-APHARMA-111111111", "US-APHARMA-333333333", "US-APHARMA-444444444"]
    assert stored["detail"]["linked_reports"] == linked
    data = _export(client, world.clinic, case_id, "fda")
    assert b'<code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.22"/>' not in data
    assert data.count(b'<relatedInvestigation classCode="INVSTG" moodCode="EVN"><code nullFlavor="NA"/>') == 3
    out = icsr.parse_message(icsr.messages(reader.read(data, reader.BATCH_ROOT, 10**7))[0])
    assert out.linked_reports == linked


def test_fda_other_characterisation_is_not_the_drug_role(client, world, schema_settings, ich_xsd):
    """FDA's scenario 7 (lines 595-632): Drug B's G.k.1 is 4, drug not administered, and FDA.G.k.1.a (its
    own code system) 1, similar device. The reader took the last code 20 whatever its system, so Drug B
    was stored as a suspect drug; it is not administered, and FDA.G.k.1.a leaves in the fda profile."""
    body = post(client, world.clinic, fda("Scenario7.xml"), json=True).json()
    assert body["acknowledgement"] == "AA", body
    case_id = body["messages"][0]["case_id"]
    drugs = client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).json()["latest"]["drugs"]
    assert [(d["name_as_reported"], d["role"], d["detail"].get("fda_other_role")) for d in drugs] == [
        ("Drug A", "suspect", None), ("Drug B", "not_administered", "1")]
    out = icsr.parse_message(icsr.messages(reader.read(_export(client, world.clinic, case_id, "fda"),
                                                       reader.BATCH_ROOT, 10**7))[0])
    assert [(d.role, d.fda_other_role) for d in out.drugs] == [("suspect", None), ("not_administered", "1")]
    ich = icsr.parse_message(icsr.messages(reader.read(_export(client, world.clinic, case_id, "ich"),
                                                       reader.BATCH_ROOT, 10**7))[0])
    assert [(d.role, d.fda_other_role) for d in ich.drugs] == [("suspect", None), ("not_administered", None)]


def test_a_substances_termid_and_strength_leave_as_they_came(client, world, schema_settings, ich_xsd):
    """FDA's scenario 2 (lines 363-375): G.k.2.3.r.2 (UNII 0Q5GP4Y4FL, version 12JUL2013) and .3 (3 mg)
    were dropped, the name alone kept."""
    body = post(client, world.clinic, fda("Scenario2.xml"), json=True).json()
    assert body["acknowledgement"] == "AA", body
    case_id = body["messages"][0]["case_id"]
    drug = client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).json()["latest"]["drugs"][0]
    assert drug["detail"]["ingredients"] == [{"name": "ARGEMONE MEXICANA SEED OIL", "code": "0Q5GP4Y4FL",
                                              "code_system": "2.16.840.1.113883.4.9", "code_version": "12JUL2013",
                                              "strength": "3", "strength_unit": "mg"}]
    out = icsr.parse_message(icsr.messages(reader.read(_export(client, world.clinic, case_id, "ich"),
                                                       reader.BATCH_ROOT, 10**7))[0])
    (ingredient,) = out.drugs[0].ingredients
    assert (ingredient.code, ingredient.code_version, ingredient.strength, ingredient.strength_unit) == (
        "0Q5GP4Y4FL", "12JUL2013", "3", "mg")


def test_race_and_ethnicity_sent_as_not_applicable_leave_so(client, world, schema_settings, ich_xsd):
    """FDA's scenario 4 (lines 114-126) sends FDA.D.11.r and D.12 as nullFlavor NA: they were dropped. And
    each G.k.7.r indication leaves with its performer, the source reporter, as ICH's instance has it."""
    body = post(client, world.clinic, fda("Scenario4.xml"), json=True).json()
    case_id = body["messages"][0]["case_id"]
    fda_part = client.get(f"/v1/reports/{case_id}", headers=world.clinic.headers).json()["latest"]["detail"]["fda"]
    assert (fda_part["race_null_flavor"], fda_part["ethnicity_null_flavor"]) == ("NA", "NA")
    out = icsr.parse_message(icsr.messages(reader.read(_export(client, world.clinic, case_id, "fda"),
                                                       reader.BATCH_ROOT, 10**7))[0])
    assert (out.patient.race_null_flavor, out.patient.ethnicity_null_flavor) == ("NA", "NA")
    data = _export(client, world.clinic, case_id, "fda")
    indications = data.count(b'<code code="19" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>')
    assert indications and data.count(b'<code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.21"/>') >= indications
