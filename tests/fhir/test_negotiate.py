"""Which format and version an Accept header asks for (read.negotiate): RFC 9110's q-values."""
from __future__ import annotations

import pytest

from pv_service.fhir.read import R4B, R5, negotiate
from tests.fhir import bundles
from tests.fhir.helpers import JSON, XML, post


@pytest.mark.parametrize("accept, expected", [
    (None, (None, None)),
    ("", (None, None)),
    ("*/*", (None, None)),
    ("text/html", (None, None)),
    ("application/fhir+xml", ("xml", None)),
    # the highest q wins, not the first xml named (the answer was XML whenever "xml" appeared)
    ("application/fhir+xml;q=0.5, application/fhir+json", ("json", None)),
    ("application/fhir+json;q=0.1, application/fhir+xml;q=0.9", ("xml", None)),
    ("application/fhir+json, application/fhir+xml", ("json", None)),  # a tie: the first listed
    ("application/fhir+xml;q=0, application/json", ("json", None)),  # q=0: not acceptable
    ("text/html, application/fhir+xml;q=0.8", ("xml", None)),
    # the version is the preferred type's (the first item's was read, or none when it had no fhirVersion)
    ("application/fhir+json, application/fhir+json; fhirVersion=4.0;q=0.5", ("json", None)),
    ("application/fhir+json;q=0.5, application/fhir+json; fhirVersion=4.0", ("json", R4B)),
    ("application/fhir+json; fhirVersion=5.0", ("json", R5)),
    ("application/fhir+json; fhirVersion=9.9, application/fhir+xml;q=0.2", ("xml", None)),
    ("application/fhir+json;q=abc", (None, None)),
])
def test_negotiate(accept, expected):
    assert negotiate(accept) == expected


def test_the_answer_follows_q_values(client, world, treated):
    r = post(client, world.clinic, bundles.r5(), accept=f"{XML};q=0.5, {JSON}")
    assert r.status_code == 201 and r.headers["content-type"].startswith(JSON), r.headers
    r = post(client, world.clinic, bundles.r5(), accept=f"{JSON};q=0.1, {XML};q=0.9")
    assert r.status_code == 200 and r.headers["content-type"].startswith(XML), r.headers
