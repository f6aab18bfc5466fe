"""The streamed import of large batches (issue 13, speed): one bad message of hundreds, a file
malformed part-way or a batch wrapper failing the schema after chunks were written, memory that
does not grow with the batch, per-message validation equal to the batch schema's, and the
hardened-parser probes refused before the parser sees a byte; on both databases."""
from __future__ import annotations

import datetime as dt
import io
import re
import tracemalloc

import pytest
import sqlalchemy as sa

from pv_service.auth.principal import Principal
from pv_service.cases.models import Case, CaseVersion
from pv_service.common.vocab import Role
from pv_service.e2b import importer, reader
from pv_service.e2b.reader import Refused
from tests.e2b.conftest import SCENARIOS, fda

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
pytestmark = pytest.mark.usefixtures("reading")  # each test in this process and with reader processes
MESSAGE = re.compile(rb"<PORR_IN049016UV>.*?</PORR_IN049016UV>", re.DOTALL)
BOGUS = b'<statusCode code="active"/><bogus/>'


def message_of(scenario: str, i: int) -> bytes:
    """FDA's message of `scenario` as ICSR number i: its own N.2.r.1, C.1.1 and C.1.8.1."""
    m = MESSAGE.search(fda(f"Scenario{scenario}.xml")).group(0)
    m = re.sub(rb'(<PORR_IN049016UV>\s*<id extension=")[^"]*', rb"\g<1>msg-%d" % i, m, count=1)
    at = m.index(b"<controlActProcess")  # C.1.1 and C.1.8.1 share the message id's OID
    return m[:at] + re.sub(rb'extension="[^"]*"( root="2\.16\.840\.1\.113883\.3\.989\.2\.1\.3\.[12]")',
                           rb'extension="CASE-%d"\1' % i, m[at:])


def batch(messages: list[bytes]) -> bytes:
    head = fda("Scenario1.xml")
    start, end = head.index(b"<PORR_IN049016UV>"), head.index(b"</PORR_IN049016UV>") + len(b"</PORR_IN049016UV>")
    return head[:start] + b"\n".join(messages) + head[end:]


def generated(n: int) -> list[bytes]:
    return [message_of(SCENARIOS[i % len(SCENARIOS)], i) for i in range(n)]


def line_of(data: bytes, needle: bytes | int) -> int:
    """The line of `needle` (or of a position), as XML counts them: CR LF, LF and a lone CR each end
    one (FDA's scenario 5 ends its lines with CR alone)."""
    before = data[:needle if isinstance(needle, int) else data.index(needle)]
    return before.count(b"\n") + len(re.findall(rb"\r(?!\n)", before)) + 1


@pytest.fixture
def clinic(world):
    return Principal(world.clinic.user.id, world.clinic.user.username, Role.clinic, world.clinic.org_id, "CN")


def run(session, principal, data: bytes, schemas, rules, chunk: int = 40):
    """The import as the CLI runs it: a stream of any size, committed at the end."""
    result = importer.import_batch(session, principal, io.BytesIO(data), schemas, None, NOW, rules, chunk=chunk)
    session.commit()
    return result


def stored(session) -> list[tuple[str, int]]:
    return sorted(session.execute(sa.select(Case.sender_case_id, CaseVersion.version)
                                  .join(CaseVersion, CaseVersion.case_id == Case.id)).all())


def test_one_bad_message_of_three_hundred(session, clinic, schemas, e2b_rules):
    messages = generated(300)
    messages[150] = messages[150].replace(b'<statusCode code="active"/>', BOGUS, 1)
    # Message 258 is a follow-up of message 10 (the same scenario and C.1.1, its own id, a later C.1.2),
    # six chunks later.
    assert SCENARIOS[10 % len(SCENARIOS)] == SCENARIOS[258 % len(SCENARIOS)]
    followup = messages[258].replace(b'extension="CASE-258"', b'extension="CASE-10"')
    at = followup.index(b"<controlActProcess")
    messages[258] = followup[:at] + re.sub(rb'<effectiveTime value="[^"]*"', b'<effectiveTime value="20300101000000+0000"',
                                           followup[at:], count=1)
    messages[280] = messages[5]  # a resend of message 5 in the same batch: unchanged
    data = batch(messages)
    bogus_line = line_of(data, b"<bogus/>")
    assert bogus_line > 65535  # past libxml2's 16-bit line counter
    result = run(session, clinic, data, schemas, e2b_rules)
    assert result.code == "AE" and result.batch_id == "FAERS2022Scenario1-4069-a2dd-08002b30309d"
    assert result.batch_sender == "4567AB89012" and len(result.messages) == 300
    refused = [i for i, m in enumerate(result.messages) if not m.accepted]
    assert refused == [150]
    (problem,) = result.messages[150].problems
    assert problem.line == bogus_line and "bogus" in problem.reason
    assert problem.element.endswith("/PORR_IN049016UV/controlActProcess/subject/investigationEvent/bogus")
    assert result.messages[150].message_id == "msg-150" and result.messages[150].safety_report_id == "CASE-150"
    assert (result.messages[258].version, result.messages[258].case_id) == (1, result.messages[10].case_id)
    assert result.messages[280].outcome == "unchanged" and result.messages[280].case_id == result.messages[5].case_id
    rows = stored(session)
    # 300 messages: one refused, one resent, one a follow-up -> 297 cases, and a second version of CASE-10.
    assert len(rows) == 298 and len({k for k, _ in rows}) == 297
    assert ("CASE-150", 0) not in rows and ("CASE-10", 1) in rows and ("CASE-258", 0) not in rows


def test_malformed_after_chunks_were_written_stores_nothing(session, clinic, schemas, e2b_rules):
    data = batch(generated(120))
    cut = data.rindex(b"</PORR_IN049016UV>")
    broken = data[:cut] + b"</PORR_IN049016>" + data[cut + len(b"</PORR_IN049016UV>"):]
    with pytest.raises(Refused) as exc:
        run(session, clinic, broken, schemas, e2b_rules, chunk=25)  # four chunks written before the error
    assert exc.value.reason.startswith(f"malformed XML at line {line_of(broken, b'</PORR_IN049016>')}:")
    session.rollback()
    assert stored(session) == []


def test_wrapper_invalid_after_chunks_were_written_is_ar_and_stores_nothing(session, clinic, schemas, e2b_rules):
    data = batch(generated(60))
    trailer = data.rindex(b"<sender typeCode")  # the batch's own sender (N.1.3), after every message
    data = data[:trailer] + data[data.index(b"</sender>", trailer) + len(b"</sender>"):]
    result = run(session, clinic, data, schemas, e2b_rules, chunk=25)
    assert result.code == "AR" and result.messages == []
    assert any("receiver" in p.reason or "sender" in p.reason for p in result.problems)
    assert stored(session) == []


def _peak(session, principal, data, schemas, rules) -> int:
    tracemalloc.start()
    try:
        run(session, principal, data, schemas, rules, chunk=25)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_batch(session, clinic, schemas, e2b_rules):
    small, large = batch(generated(50)), batch(generated(500))
    run(session, clinic, batch(generated(3)), schemas, e2b_rules)  # warm: compiled XPaths, statement caches
    peak_small = _peak(session, clinic, small, schemas, e2b_rules)
    peak_large = _peak(session, clinic, large, schemas, e2b_rules)
    # Ten times the messages: what is kept per message (its ACK line, the case's numbering) is small;
    # the tree of a 23 MB batch would be hundreds of MB, its Python objects alone tens of MB.
    assert peak_large < peak_small + 4 * 1024 * 1024, (peak_small, peak_large)


VARIANTS = {
    "unknown element": lambda d: d.replace(b'<statusCode code="active"/>', b'<statusCode code="active"/><bogus/>', 1),
    "ITSVersion on the message": lambda d: d.replace(b"<PORR_IN049016UV>", b'<PORR_IN049016UV ITSVersion="XML_1.0">', 1),
    "missing element": lambda d: d.replace(b'<processingCode code="P"/>', b"", 1),
    "unknown attribute": lambda d: d.replace(b'<processingCode code="P"/>', b'<processingCode code="P" foo="1"/>', 1),
    "bad attribute value": lambda d: d.replace(b'classCode="CACT"', b'classCode="NOPE"', 1),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_message_validated_as_the_batch_schema_validates_it(variant, schemas):
    data = VARIANTS[variant](batch([message_of("1", 0), message_of("4", 1)]))
    assert data != batch([message_of("1", 0), message_of("4", 1)])
    whole = reader.schema_errors(schemas.batch, reader.read(data, reader.BATCH_ROOT, 10**8))
    stream = reader.BatchStream(io.BytesIO(data))
    each = []
    for i, m in enumerate(stream.messages()):
        errors = reader.message_errors(schemas.batch, m)
        each += errors
        if i == 0:
            stream.first_message_errors(errors)
    assert whole and each == whole
    assert stream.wrapper_errors(schemas.batch) == []


PROBES = {
    "DOCTYPE with entities": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">&a;</MCCI_IN200100UV01>',
    "external entity": b'<!-- c --><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><MCCI_IN200100UV01>&e;</MCCI_IN200100UV01>',
    "E2B(R2)": b'<?xml version="1.0" encoding="UTF-8"?><ichicsr lang="en"><ichicsrmessageheader/></ichicsr>',
    "wrong root": b'<?xml version="1.0"?><PORR_IN049016UV xmlns="urn:hl7-org:v3"/>',
    "UTF-16": "<?xml version='1.0'?><MCCI_IN200100UV01/>".encode("utf-16"),
    "other encoding": b'<?xml version="1.0" encoding="ISO-8859-1"?><MCCI_IN200100UV01/>',
    "not XML": b"hello",
    "prolog past the head": b"<!--" + b" " * reader.HEAD + b"--><MCCI_IN200100UV01/>",
}


@pytest.mark.parametrize("probe", PROBES)
def test_hardened_probes_are_refused_before_the_parser_sees_a_byte(probe, monkeypatch):
    def no_parser(*args, **kwargs):
        raise AssertionError("the parser was created")

    monkeypatch.setattr(reader.etree, "XMLPullParser", no_parser)
    with pytest.raises(Refused) as exc:
        list(reader.BatchStream(io.BytesIO(PROBES[probe])).messages())
    assert exc.value.status == 400 and "passwd" not in exc.value.reason and "root:" not in exc.value.reason


def test_entity_reference_without_doctype_is_malformed_not_resolved():
    data = b'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">\n<id/>&xxe;</MCCI_IN200100UV01>'
    with pytest.raises(Refused) as exc:
        list(reader.BatchStream(io.BytesIO(data)).messages())
    assert exc.value.reason.startswith("malformed XML at line 2")


def test_a_message_inside_a_message_is_refused_not_a_crash(session, clinic, schemas, e2b_rules):
    inner = message_of("4", 1)
    outer = message_of("1", 0).replace(b'<statusCode code="active"/>', b'<statusCode code="active"/>' + inner, 1)
    result = run(session, clinic, batch([outer, message_of("2", 2)]), schemas, e2b_rules)
    assert [m.accepted for m in result.messages] == [False, True]
    assert "PORR_IN049016UV" in result.messages[0].problems[0].reason


def test_lines_past_65535_are_exact_for_business_rules_too(session, clinic, schemas, e2b_rules):
    messages = generated(150)
    # C.1.5 sent as a nullFlavor: schema-valid, refused by a business rule (at its element's line), past
    # line 65535.
    messages[140] = re.sub(rb'<availabilityTime value="[^"]*"/>', b'<availabilityTime nullFlavor="NI"/>', messages[140])
    data = batch(messages)
    result = run(session, clinic, data, schemas, e2b_rules)
    assert [i for i, m in enumerate(result.messages) if not m.accepted] == [140]
    (problem,) = result.messages[140].problems
    assert problem.element == "C.1.5" and problem.reason == "nullFlavor NI is not allowed here (allowed: none)"
    assert problem.line == line_of(data, data.index(b'<availabilityTime nullFlavor="NI"/>')) > 65535


_RSS_PROBE = """
import resource, sys
from pathlib import Path
from pv_service.e2b import icsr, reader, schema_set
schemas = schema_set.load(Path(sys.argv[2]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "rb") as f:
    for m in reader.BatchStream(f).messages():
        reader.message_errors(schemas.batch, m)
        icsr.parse_message(m)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_resident_memory_of_the_streamed_parse_does_not_grow_with_the_batch(ich_xsd, tmp_path):
    """What tracemalloc cannot see: libxml2's own trees. A batch parsed whole holds about 0.3 MB per ICSR."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def grown_kb(n: int) -> int:
        path = tmp_path / f"batch{n}.xml"
        path.write_bytes(batch(generated(n)))
        out = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(path), str(ich_xsd)], cwd=root, check=True,
                             capture_output=True, text=True, env={"PYTHONPATH": str(root), "PV_ENVIRONMENT": "test"})
        return int(out.stdout.split()[-1])

    small, large = grown_kb(40), grown_kb(400)
    # Read from a file, as the CLI does; 18 MB of messages parsed whole would add some 120 MB.
    assert large - small < 20 * 1024, (small, large)
