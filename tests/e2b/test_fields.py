"""The E2B sections FDA's instances lack, stored as sent (tests/e2b/rich.py: Scenario 1 with them added),
each value checked against the fragment that carries it; and the fda profile's regional elements."""
from __future__ import annotations

from lxml import etree

from pv_service.e2b import reader
from pv_service.e2b.reader import NS
from tests.e2b.conftest import fda
from tests.e2b.rich import REACTION_1, REACTION_2, rich_icsr
from tests.e2b.test_import import post


def _stored(client, actor, data: bytes) -> dict:
    body = post(client, actor, data, json=True).json()
    assert body["acknowledgement"] == "AA", body
    return client.get(f"/v1/reports/{body['messages'][0]['case_id']}", headers=actor.headers).json()["latest"]


def test_every_section_is_stored_as_sent(client, world, schema_settings):
    v = _stored(client, world.clinic, rich_icsr())
    d = v["detail"]
    assert (v["nullification"], v["nullification_reason"]) == ("amendment", "lot number corrected")  # C.1.11
    assert d["documents"] == ["discharge letter"] and d["additional_documents"] is False  # C.1.6.1(.r.1)
    assert d["literature"] == ["Doe J. Thrombosis after cell therapy. J Cell Ther. 2014;1:1-2."]  # C.4.r.1
    assert d["expedited"] is True and d["first_sender"] == "1"  # C.1.7, C.1.8.2
    assert d["other_case_ids"] == [{"source": "EVHUMAN", "id": "EU-EC-123"}]  # C.1.9.1.r
    assert d["linked_reports"] == ["US-APHARMA-0001"]  # C.1.10.r
    assert [(s["qualification"], s["country"], s["primary_for_regulatory"]) for s in d["sources"]] == [
        ("physician", "US", True), ("consumer", "GB", False)]  # C.2.r, two sources
    assert d["study"] == {"name": "Long-term follow-up of CAR-T recipients", "number": "CT-7", "type": "2",
                          "registrations": [["NCT00000007", "US"]]}  # C.5
    p = v["patient"]
    assert (p["weight_kg"], p["height_cm"], p["death_date"]) == (71.5, 178.0, "2014-10-20")  # D.3, D.4, D.9.1
    dp = d["patient"]
    assert dp["medical_history"] == [{"code": "10020772", "version": "25.0", "start": "2009", "end": "20140301",
                                      "continuing": False, "comments": "treated with diet",
                                      "family_history": True}]  # D.7.1.r
    assert dp["medical_history_text"] == "None" and dp["concomitant_therapies"] is True  # D.7.2, D.7.3
    (past,) = dp["past_drugs"]  # D.8.r
    assert (past["name"], past["product_code"], past["start"], past["end"]) == (
        "CureAll", "59762-2858", "20090101", "20100601")
    assert (past["indication"]["code"], past["reaction"]["code"]) == ("10001011", "10020321")
    assert [(c["code"], c["text"]) for c in dp["death_causes"]] == [("10038695", "respiratory failure")]  # D.9.2.r
    assert dp["autopsy"] is True  # D.9.3
    assert [(c["code"], c["text"]) for c in dp["autopsy_causes"]] == [("10037377", "pulmonary embolism")]  # D.9.4.r
    assert (dp["last_menstrual_period"], dp["gestation_period"], dp["gestation_period_unit"]) == (
        "20140901", "12", "wk")  # D.6, D.2.2.1
    parent = dp["parent"]  # D.10: the initials "AB" only as a masked name
    assert (parent["name_null_flavor"], parent["sex_code"], parent["birth_year"], parent["age"], parent["age_unit"]) == (
        "MSK", "2", 1975, "39", "a")
    assert (parent["last_menstrual_period"], parent["weight_kg"], parent["height_cm"]) == ("20140101", "60", "165")
    assert [(h["code"], h["start"]) for h in parent["medical_history"]] == [("10012735", "2010")]
    assert [x["name"] for x in parent["past_drugs"]] == ["Folic acid"] and "AB" not in str(v)
    r1, r2 = d["reactions"]  # E.i beyond the rows
    assert (r1["ref"], r1["end"], r1["country"], r1["highlighted"], r1["medically_confirmed"]) == (
        REACTION_1, "20141101", "US", "3", True)
    assert r1["translation"] == "THROMBOSE VEINEUSE PROFONDE" and r2["ref"] == REACTION_2
    dimer, ultrasound = d["tests"]  # F.r
    assert (dimer["name"]["text"], dimer["date"], dimer["result"], dimer["unit"], dimer["low"], dimer["high"]) == (
        "D-dimer", "20141011", "4.2", "mg/L", "0", "0.5")
    assert (dimer["comments"], dimer["more_info"]) == ("repeated on day 3", True)
    assert (ultrasound["result_code"], ultrasound["result_text"]) == ("1", "thrombus in the left popliteal vein")
    drug = v["drugs"][0]["detail"]
    assert drug["authorisation_country"] == "US"  # G.k.3.2
    assert (drug["cumulative_dose"], drug["cumulative_dose_unit"]) == ("5", "10*6")  # G.k.5
    oral, infusion = drug["dosages"]  # G.k.4.r
    assert (oral["route"], oral["route_code"], oral["lot"]) == ("Oral", "001", "UNKNOWN")
    # FDA's <effectiveTime nullFlavor="ASKU"/> (dates asked, not known) and the route list's version
    assert (oral["period_null_flavor"], oral["route_version"]) == ("ASKU", "2014.10.30")
    assert infusion == {"period_null_flavor": None, "route_version": None, "lot": "LOT-77A", "lot_null_flavor": None, "route": "Intravenous", "route_code": "042",
                        "dose": "2.5", "dose_unit": "10*6", "start": "20140928", "end": "20140929",
                        "frequency": "1", "frequency_unit": "d", "text": "one infusion",
                        "form": "suspension for infusion"}
    assert drug["matrix"] == [{"reaction_ref": REACTION_1, "start_interval": "12", "start_interval_unit": "d",
                               "last_dose_interval": "2", "last_dose_interval_unit": "h",
                               "recurrence": "2"}]  # G.k.9.i.1, .3, .4
    assert {(a["reaction_ref"], a["result"]) for a in drug["relatedness"]} == {
        (REACTION_1, "Not Suspected"), (REACTION_2, "Suspected")}  # G.k.9.i.2.r
    assert [(c["code"], c["version"]) for c in d["sender_diagnosis"]] == [("10051055", "25.0")]  # H.3.r
    assert d["fda"] == {"local_report_type": "1", "combination_product": False, "race": ["C41260", "C41219"],
                        "ethnicity": "C41222",
                        "required_intervention_null_flavor": ["NI", "NI"]}  # FDA.E.i.3.2h sent as NI


def _export(client, actor, case_id, profile):
    r = client.get(f"/v1/reports/{case_id}/e2b", params={"profile": profile}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return reader.read(r.content, reader.BATCH_ROOT, 10**7)


def test_fda_profile_receivers_and_regional_elements(client, world, schema_settings):
    """Post-market to ZZFDA/CBER; an IND study report to FDA's premarket gateway (ZZFDA_PREMKT, CBER_IND),
    as FDA's Scenario 3 is addressed; the FDA.* elements go only with the fda profile."""
    post_market = post(client, world.clinic, fda("Scenario1.xml"), json=True).json()["messages"][0]["case_id"]
    # Scenario 3 has Scenario 1's C.1.1 with the same C.1.2: another sender's case.
    ind = post(client, world.other_clinic, fda("Scenario3.xml"), json=True).json()["messages"][0]["case_id"]
    receivers = "h:receiver/h:device/h:id/@extension"
    tree = _export(client, world.clinic, post_market, "fda")
    root = tree.getroot()
    assert root.xpath(receivers, namespaces=NS) == ["ZZFDA"]
    assert root.xpath(f"h:PORR_IN049016UV/{receivers}", namespaces=NS) == ["CBER"]
    codes = root.xpath("//h:subjectOf2/h:observation/h:code[@codeSystem='2.16.840.1.113883.3.26.1.1']/@code",
                       namespaces=NS)
    assert codes == ["C17049", "C17049", "C16564"]  # FDA.D.11.r twice, FDA.D.12
    assert root.xpath("//h:observationEvent[h:code/@code='C54588']/h:value/@code", namespaces=NS) == ["1"]
    assert not _export(client, world.clinic, post_market, "ich").getroot().xpath(
        "//*[@codeSystem='2.16.840.1.113883.3.26.1.1']", namespaces=NS)
    root = _export(client, world.other_clinic, ind, "fda").getroot()
    assert root.xpath(receivers, namespaces=NS) == ["ZZFDA_PREMKT"]
    assert root.xpath(f"h:PORR_IN049016UV/{receivers}", namespaces=NS) == ["CBER_IND"]
    ids = root.xpath("//h:researchStudy/h:authorization/h:studyRegistration/h:id", namespaces=NS)
    assert [(i.get("root").rsplit(".", 1)[1], i.get("extension")) for i in ids][-3:] == [
        ("1", "123456"), ("3", "222222"), ("3", "333333")]  # FDA.C.5.5a, FDA.C.5.6.r (Scenario 3)
    etree.tostring(root)  # the batch is well formed


def test_additional_drug_information_as_in_fda_scenario_5_1(client, world, schema_settings):
    """G.k.10.r (FDA.G.k.10a.r in FDA's read-me): TEST carries code 1, RLD code 2, Drug A none."""
    v = _stored(client, world.clinic, fda("Scenario5-1.xml"))
    assert [(d["name_as_reported"], [x["code"] for x in d["detail"]["additional_info"]]) for d in v["drugs"]] == [
        ("TEST", ["1"]), ("RLD", ["2"]), ("Drug A", [])]
