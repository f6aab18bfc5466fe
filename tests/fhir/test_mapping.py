"""The pure parts: version detection and the code tables (FHIR terminology -> E2B), no database."""
from __future__ import annotations

import pytest

from pv_service.fhir import mapping, read
from pv_service.fhir.event import Coding, Concept
from pv_service.fhir.outcome import FhirError


@pytest.mark.parametrize("content_type, expected", [
    ("application/fhir+json", ("json", None)),
    ("application/fhir+json; fhirVersion=4.0", ("json", "R4B")),
    ("application/fhir+json;fhirVersion=4.0.1", ("json", "R4B")),
    ("application/fhir+xml; charset=utf-8; fhirVersion=4.3", ("xml", "R4B")),
    ("application/json; fhirVersion=5.0", ("json", "R5")),
    ('text/xml; fhirVersion="5.0.0"', ("xml", "R5")),
])
def test_media_type_and_version_hint(content_type, expected):
    assert read.media(content_type) == expected


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/fhir+json; fhirVersion=3.0"])
def test_unknown_media_is_415(content_type):
    with pytest.raises(FhirError) as exc:
        read.media(content_type)
    assert exc.value.status == 415


@pytest.mark.parametrize("resource, version", [
    ({"resourceType": "AdverseEvent", "event": {}}, "R4B"),
    ({"resourceType": "AdverseEvent", "identifier": {"value": "x"}}, "R4B"),
    ({"resourceType": "AdverseEvent", "suspectEntity": [{"instance": {}}]}, "R4B"),
    ({"resourceType": "AdverseEvent", "suspectEntity": [{"causality": [{}]}]}, "R4B"),
    ({"resourceType": "AdverseEvent", "status": "completed"}, "R5"),
    ({"resourceType": "AdverseEvent", "identifier": [{"value": "x"}]}, "R5"),
    ({"resourceType": "AdverseEvent", "suspectEntity": [{"instanceCodeableConcept": {}}]}, "R5"),
    ({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "AdverseEvent", "occurrencePeriod": {}}}]}, "R5"),
])
def test_version_from_shape(resource, version):
    assert read._version(*read._json_markers(resource), None, resource["resourceType"]) == version


def _cc(*codes: str) -> Concept:
    return Concept("X", [Coding(None, None, c, None) for c in codes], None)


@pytest.mark.parametrize("codes, flags", [
    (("Non-serious",), {}),
    (("serious",), {"other_medically_important": True}),  # R5: no criterion given
    (("serious", "SeriousResultsInHospitalization"), {"hospitalisation": True}),
    (("SeriousResultsInDeath", "SeriousIsLifeThreatening"), {"death": True, "life_threatening": True}),
    (("SeriousIsBirthDefect",), {"congenital_anomaly": True}),
    (("SeriousResultsInDisability",), {"disability": True}),  # R4 4.0.1's code (it was refused)
    (("SeriousResultsInPersistentDisability",), {"disability": True}),  # what this service once wrote
    (("Serious", "SeriousRequiresPreventImpairment"), {"other_medically_important": True}),
])
def test_seriousness_criteria(codes, flags):
    issues = []
    assert mapping._seriousness(_cc(*codes), issues) == flags and issues == []


@pytest.mark.parametrize("code, outcome", [("resolved", "recovered"), ("recovering", "recovering"),
                                           ("ongoing", "not_recovered"), ("resolvedWithSequelae", "recovered_with_sequelae"),
                                           ("fatal", "fatal"), ("unknown", "unknown")])
def test_outcome(code, outcome):
    assert mapping._outcome(_cc(code), []) == outcome


def test_render_tables_are_the_inverse_of_the_intake_tables():
    from pv_service.fhir import render

    assert {mapping.OUTCOME[k.casefold()] for k in render.OUTCOME_CODES.values()} == set(render.OUTCOME_CODES)
    for ours, theirs in render.CAUSALITY_CODES.items():
        assert mapping.CAUSALITY[theirs.casefold()] == ours
    for flag, code in render.CRITERIA.items():
        if flag != "other_medically_important":
            assert mapping.SERIOUSNESS[code.casefold()] == flag


@pytest.mark.parametrize("build, roles", [
    ("r5_unregistered", [("suspect", "CART-1", "LOT-1", "Testkymr"), ("concomitant", "L04AC07", None, "tocilizumab"),
                         ("not_administered", "L01BB05", None, "fludarabine")]),
    ("r4_unregistered", [("suspect", "CART-1", "LOT-1", "Testkymr"), ("not_administered", "L01BB05", None, "fludarabine")]),
])
def test_a_described_subject_and_the_drugs_roles_are_read_from_either_version(build, roles):
    import datetime as dt
    import json

    from pv_service.fhir.event import Subject
    from pv_service.fhir.service import event_of
    from tests.fhir import bundles

    issues: list = []
    parsed = read.parse(json.dumps(getattr(bundles, build)()).encode(), "json", None, ("Bundle",))
    e = event_of(parsed, issues)
    assert issues == []
    assert e.subject == Subject(["MRN-4471", "110101197005061234"], "female", 1970, None)
    assert [(s.role, s.product.codes(), s.lot) for s in e.suspects] == [(r, [c], lot) for r, c, lot, _ in roles]
    # No registered patient: the report describes it and every drug is as reported (no registry: none matched).
    m = mapping.to_report(e, None, None, None, dt.date(2026, 1, 1), True, issues)
    p = m.report.patient
    assert (p.patient_id, list(p.identifiers), p.sex, p.birth_year) == (
        None, ["MRN-4471", "110101197005061234"], "female", 1970)
    assert [(d.role.value, d.treatment_id, d.product_code, d.name_as_reported, [x.lot for x in d.dosages])
            for d in m.report.drugs] == [(r, None, c, n, [lot] if lot else []) for r, c, lot, n in roles]


def test_a_patient_with_more_than_four_identifiers_keeps_the_first_four():
    from pv_service.fhir.event import Subject

    e = type("E", (), {"subject": Subject([f"ID-{i}" for i in range(6)], None, None, None)})()
    assert mapping._patient(e, None) == {"identifiers": ["ID-0", "ID-1", "ID-2", "ID-3"]}
    assert mapping._patient(e, 7) == {"patient_id": 7}
