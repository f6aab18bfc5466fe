"""The E2B parts of a JSON report as the E2B importer keys and values them (pure, hand-worked values)."""
from __future__ import annotations

from pv_service.cases import report_rows
from pv_service.cases.schemas import ReportIn

BASE = {"sender_case_id": "C-1", "received_date": "2025-02-01", "reporter": {"country": "CN"},
        "patient": {"sex": "female"}, "drugs": [{"name_as_reported": "Testkymr"}]}


def _reaction(**extra) -> dict:
    return {"pt_code": "P1", "pt_name": "CRS", **extra}


def test_numbers_are_written_as_e2b_values():
    # PQ values as FAERS2022Scenario1.xml writes them: value="48", never 48.0 nor an exponent
    assert [report_rows.number(x) for x in (48, 48.0, 61.5, 39.25, 0.00002, None)] == [
        "48", "48", "61.5", "39.25", "0.00002", None]


def test_fda_elements_only_those_sent_and_required_intervention_per_reaction():
    body = {**BASE, "fda": {"ind": "IND-1", "race": ["C41260"]},
            "reactions": [_reaction(), _reaction(required_intervention=True)]}
    d = report_rows.detail(ReportIn(**body))
    # as mapping.map_icsr builds it: a reaction without FDA.E.i.3.2h is None in the list, the list only when one is sent
    assert d["fda"] == {"ind": "IND-1", "race": ["C41260"], "required_intervention": [None, True]}
    assert report_rows.detail(ReportIn(**{**BASE, "reactions": [_reaction()]}))["fda"] == {}


def test_a_reaction_detail_alone_makes_the_parts_and_a_name_alone_is_a_past_drug_record():
    body = {**BASE, "patient": None, "reactions": [_reaction(end_date="2025-01", country="CN")]}
    d = report_rows.detail(ReportIn(**body))
    assert d["reactions"] == [{"ref": None, "end": "202501", "country": "CN", "translation": None,
                               "highlighted": None, "medically_confirmed": None}]
    d = report_rows.detail(ReportIn(**{**BASE, "patient": {"sex": "male", "past_drugs": ["R-CHOP"]}}))
    none = {"code": None, "version": None, "text": None, "null_flavor": None}
    assert d["patient"]["past_drugs"] == [{"name": "R-CHOP", "product_code": None, "code_system": None,
                                           "start": None, "end": None, "indication": none, "reaction": none}]


def test_a_registered_patient_s_report_has_no_parts():
    body = {"sender_case_id": "C-2", "received_date": "2025-02-01", "patient": {"patient_id": 1},
            "drugs": [{"treatment_id": 3}], "reactions": [_reaction()]}
    report = ReportIn(**body)
    assert report_rows.detail(report) is None and report_rows.drug_row(report.drugs[0]) == {
        "treatment_id": 3, "role": "suspect"}
