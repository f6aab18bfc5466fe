"""Refusing before parsing, the hardened parser, and schema errors with lines (no database)."""
from __future__ import annotations

import pytest

from pv_service.e2b import reader, schema_set
from pv_service.e2b.reader import BATCH_ROOT, Refused
from tests.e2b.conftest import SCENARIOS, fda

LIMIT = 10 * 1024 * 1024


def refused(data: bytes, expected: str = BATCH_ROOT, limit: int = LIMIT) -> Refused:
    with pytest.raises(Refused) as exc:
        reader.read(data, expected, limit)
    return exc.value


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_fda_instance_is_read_and_valid(scenario, ich_xsd):
    tree = reader.read(fda(f"Scenario{scenario}.xml"), BATCH_ROOT, LIMIT)
    assert reader.schema_errors(schema_set.load(ich_xsd).batch, tree) == []


def test_doctype_is_refused_before_parsing():
    # A billion-laughs header: refused on the prolog, so nothing is expanded.
    bomb = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
            b'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">&lol2;</MCCI_IN200100UV01>')
    assert "DOCTYPE" in refused(bomb).reason


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (f'<!-- a comment first --><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
           f'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">&e;</MCCI_IN200100UV01>').encode()
    exc = refused(xxe)
    assert "DOCTYPE" in exc.reason and "TOPSECRET" not in exc.reason


def test_entity_reference_without_doctype_is_malformed_not_resolved():
    exc = refused(b'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">&xxe;</MCCI_IN200100UV01>')
    assert exc.reason.startswith("malformed XML at line 1")


def test_e2b_r2_file_is_named():
    exc = refused(b'<?xml version="1.0" encoding="UTF-8"?>\n<ichicsr lang="en"><ichicsrmessageheader/></ichicsr>')
    assert "E2B(R2)" in exc.reason


def test_wrong_root():
    exc = refused(b'<?xml version="1.0"?><PORR_IN049016UV xmlns="urn:hl7-org:v3"/>')
    assert exc.reason == "the root element is PORR_IN049016UV; expected MCCI_IN200100UV01"


def test_oversize_is_413_before_parsing():
    exc = refused(b"<MCCI_IN200100UV01>" + b" " * 2048 + b"</MCCI_IN200100UV01>", limit=1024)
    assert exc.status == 413 and "limit is 1024" in exc.reason


@pytest.mark.parametrize("data", [b"\xff\xfe<\x00?\x00x\x00", b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>'])
def test_not_utf8(data):
    assert "UTF-8" in refused(data).reason


@pytest.mark.parametrize("data", [b"", b"hello", b"   "])
def test_not_xml(data):
    assert refused(data).reason == "not XML: no root element at the start of the file"


def test_malformed_names_the_line():
    data = fda("Scenario1.xml").replace(b"</PORR_IN049016UV>", b"</PORR_IN049016>", 1)
    line = data[:data.index(b"</PORR_IN049016>")].count(b"\n") + 1
    assert refused(data).reason.startswith(f"malformed XML at line {line}:")


def test_schema_error_names_element_and_line(ich_xsd):
    data = fda("Scenario1.xml").replace(b'<statusCode code="active"/>', b'<statusCode code="active"/><bogus/>', 1)
    line = data[:data.index(b"<bogus/>")].count(b"\n") + 1
    errors = reader.schema_errors(schema_set.load(ich_xsd).batch, reader.read(data, BATCH_ROOT, LIMIT))
    assert [e.line for e in errors] == [line]
    assert "bogus" in errors[0].reason and "investigationEvent" in errors[0].element


def test_schema_error_quotes_the_pattern_as_the_schema_has_it(ich_xsd):
    """Namespaces are taken out of lxml's messages ({urn:hl7-org:v3}low -> low), but not the
    {1,8} of the date pattern the message quotes: without them a sender cannot see the form."""
    data = fda("Scenario1.xml")
    at = data.index(b'<availabilityTime value="') + len(b'<availabilityTime value="')
    data = data[:at] + b"2022-06-14" + data[data.index(b'"', at):]
    errors = reader.schema_errors(schema_set.load(ich_xsd).batch, reader.read(data, BATCH_ROOT, LIMIT))
    reason = next(e.reason for e in errors if "2022-06-14" in e.reason)
    assert "[0-9]{1,8}|([0-9]{9,14}|[0-9]{14,14}" in reason
    assert "{urn:" not in reason and "Element 'availabilityTime'" in reason
