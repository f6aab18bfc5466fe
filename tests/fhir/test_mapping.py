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
    (("SeriousResultsInPersistentDisability",), {"disability": True}),
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
