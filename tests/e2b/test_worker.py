"""Reader processes (e2b/worker.py): what they yield is what reading in this process yields, item
for item (problems, lines, ICSRs), from bytes, a file and a stream; a failing store, reader or
source ends the import with every reader process gone and nothing stored; the HTTP route uses them
for a large batch."""
from __future__ import annotations

import io
import re
import subprocess

import pytest

from pv_service.e2b import business_rules, checking, icsr, importer, schema_set, worker
from pv_service.e2b.reader import Refused
from tests.e2b.test_import_stream import NOW, BOGUS, batch, clinic, generated, line_of, run, stored  # noqa: F401


@pytest.fixture
def started(monkeypatch):
    """Every reader process started, to check that none outlives its import."""
    procs = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        p = real(*args, **kwargs)
        procs.append(p)
        return p

    monkeypatch.setattr(worker.subprocess, "Popen", popen)
    return procs


def _varied() -> bytes:
    messages = generated(160)
    messages[3] = messages[3].replace(b'<statusCode code="active"/>', BOGUS, 1)  # schema error
    messages[150] = messages[150].replace(b'<statusCode code="active"/>', BOGUS, 1)  # past line 65535
    messages[151] = re.sub(rb'<availabilityTime value="[^"]*"/>', b'<availabilityTime nullFlavor="NI"/>',
                           messages[151])  # a business rule, past line 65535
    messages[8] = re.sub(rb'<availabilityTime value="[^"]*"/>', b'<availabilityTime nullFlavor="NI"/>', messages[8])
    return batch(messages)


def _plain(items) -> list:
    return [icsr.plain(item) for item in items]


@pytest.mark.parametrize("readers", [1, 2])
@pytest.mark.parametrize("source", ["bytes", "file", "stream"])
def test_readers_yield_what_reading_here_yields(schemas, e2b_rules, tmp_path, readers, source, started):
    data = _varied()
    rules = business_rules.RuleSet.of(e2b_rules)
    here = _plain(checking.read_batch(io.BytesIO(data), schemas, rules))
    assert line_of(data, data.rindex(BOGUS)) > 65535
    refused = [i for i, (m, c) in enumerate(here[:-1]) if m["problems"]]
    assert refused == [3, 8, 150, 151] and all(here[i][1] is None for i in refused)
    assert here[-1]["batch_id"] == "FAERS2022Scenario1-4069-a2dd-08002b30309d" and here[-1]["problems"] == []
    # each reaction keeps the file's line of its E.i.2.1 code for the ACK; past line 65535, where
    # libxml2's lines are not exact, none (what is found later names the message's line)
    start = data.index(b"msg-1")
    codes = [data.index(b'<value xsi:type="CE" code="%s"' % code, start) for code in (b"10027940", b"10009896")]
    assert [r["line"] for r in here[1][1]["reactions"]] == [line_of(data, at) for at in codes]
    assert [r["line"] for r in here[155][1]["reactions"]] == [None, None]
    path = tmp_path / "batch.xml"
    path.write_bytes(data)
    with path.open("rb") as f:
        if source == "bytes":
            items = worker.read_in_workers(data, None, schemas, rules, readers)
        elif source == "file":
            items = worker.read_in_workers(f.read(1000), f, schemas, rules, readers)
        else:
            stream = io.BytesIO(data)
            items = worker.read_in_workers(stream.read(1000), stream, schemas, rules, readers)
        assert _plain(items) == here
    assert len(started) == readers and all(p.returncode is not None for p in started)


def test_the_rule_set_checks_as_the_rule_models_do(schemas, e2b_rules):
    rules = business_rules.RuleSet.of(e2b_rules)
    found = 0
    for el in checking.reader.BatchStream(io.BytesIO(_varied())).messages():
        for receiver in (None, "CDER", "EMA", "NMPA"):
            expected = business_rules.check(el, e2b_rules, receiver)
            assert business_rules.check(el, rules, receiver) == expected
            found += len(expected)
    assert found > 0


def test_a_failing_store_kills_the_readers_and_stores_nothing(session, clinic, schemas, e2b_rules, monkeypatch,  # noqa: F811
                                                              started):
    monkeypatch.setattr(importer, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(importer, "READERS", 2)
    real = importer._Store.flush
    calls = []

    def flush(self):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        real(self)

    monkeypatch.setattr(importer._Store, "flush", flush)
    with pytest.raises(RuntimeError, match="went away"):
        run(session, clinic, batch(generated(120)), schemas, e2b_rules, chunk=25)
    session.rollback()
    assert stored(session) == []
    assert len(started) == importer.READERS and all(p.returncode is not None for p in started)


def test_a_reader_that_fails_is_an_error_not_a_refusal(session, clinic, schemas, e2b_rules, monkeypatch, started,  # noqa: F811
                                                       tmp_path):
    monkeypatch.setattr(importer, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(importer, "READERS", 2)
    broken = schema_set.SchemaSet(tmp_path / "no-schemas-here", schemas.batch, schemas.ack)
    with pytest.raises(worker.ReaderFailed, match="SchemaSetError"):
        run(session, clinic, batch(generated(5)), broken, e2b_rules)
    session.rollback()
    assert stored(session) == []
    assert started and all(p.returncode is not None for p in started)


class _Cut(io.RawIOBase):
    """A stream whose reading fails part-way (a client gone, a disk error)."""

    def __init__(self, data: bytes, at: int):
        self.data, self.at, self.pos = data, at, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.pos >= self.at:
            raise OSError("connection reset")
        n = min(len(b), self.at - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_a_source_that_fails_to_read_is_its_error(session, clinic, schemas, e2b_rules, monkeypatch, started):  # noqa: F811
    monkeypatch.setattr(importer, "WORKER_MIN_BYTES", 1000)
    monkeypatch.setattr(importer, "READERS", 2)
    data = batch(generated(30))
    with pytest.raises(OSError, match="connection reset"):
        importer.import_batch(session, clinic, io.BufferedReader(_Cut(data, len(data) // 2)), schemas, None,
                              NOW, e2b_rules)
    session.rollback()
    assert stored(session) == []
    assert all(p.returncode is not None for p in started)


def test_malformed_is_refused_by_the_readers(session, clinic, schemas, e2b_rules, monkeypatch, started):  # noqa: F811
    monkeypatch.setattr(importer, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(importer, "READERS", 2)
    data = batch(generated(40)).replace(b"</PORR_IN049016UV>", b"</PORR_IN049016>", 1)
    with pytest.raises(Refused, match=f"malformed XML at line {line_of(data, b'</PORR_IN049016>')}:"):
        run(session, clinic, data, schemas, e2b_rules)
    assert all(p.returncode is not None for p in started)


def test_the_route_reads_a_large_batch_in_reader_processes(client, world, schema_settings, monkeypatch, started):
    monkeypatch.setattr(importer, "WORKER_MIN_BYTES", 100_000)
    monkeypatch.setattr(importer, "READERS", 2)
    data = batch(generated(12))
    assert len(data) > 100_000
    r = client.post("/v1/e2b/batches", content=data,
                    headers={**world.clinic.headers, "Content-Type": "application/xml", "Accept": "application/json"})
    assert r.status_code == 200 and r.json()["acknowledgement"] == "AA", r.text
    assert len(r.json()["messages"]) == 12 and len(started) == importer.READERS
    listed = client.get("/v1/reports", headers=world.clinic.headers).json()["items"]
    assert len(listed) == 12


@pytest.mark.parametrize(("cpus", "readers"), [(1, 0), (2, 2), (3, 2), (4, 3), (64, 3)])
def test_readers_by_cores(cpus, readers):
    assert importer._readers(cpus) == readers


@pytest.fixture
def read_here(monkeypatch):
    """The message numbers from which read_in_workers read the batch in this process after all."""
    starts = []
    real = checking.read_batch

    def read_batch(*args, start=0, **kwargs):
        starts.append(start)
        return real(*args, start=start, **kwargs)

    monkeypatch.setattr(checking, "read_batch", read_batch)
    return starts


def _outcome(items) -> list | tuple:
    """Every item, or the refusal (its reason) and the items before it."""
    out = []
    try:
        for item in items:
            out.append(icsr.plain(item))
    except Refused as exc:
        return ("refused", exc.reason, out)
    return out


def _compare(data: bytes, schemas, e2b_rules, started, starts: list, real_read_batch, readers: int = 2):
    """What the readers give for `data` is what reading here gives; returns that and where the
    readers' path read in this process (starts)."""
    rules = business_rules.RuleSet.of(e2b_rules)
    here = _outcome(real_read_batch(io.BytesIO(data), schemas, rules))
    with_readers = _outcome(worker.read_in_workers(data, None, schemas, rules, readers))
    assert with_readers == here
    assert all(p.returncode is not None for p in started)  # none (a file only read here) or all gone
    started.clear()
    return here


REAL_READ_BATCH = checking.read_batch


def _cdata_end_tag(m: bytes) -> bytes:
    return re.sub(rb"(<text[^>]*>)", rb"\1<![CDATA[ </PORR_IN049016UV> ]]>", m, count=1)


def _comment_end_tag(m: bytes) -> bytes:
    return m.replace(b'<statusCode code="active"/>', b'<statusCode code="active"/><!-- </PORR_IN049016UV> -->', 1)


@pytest.mark.parametrize(("edit", "split_whole"), [
    ("comment between messages", True),
    ("nothing", True),
    ("end tag in a comment", False),
    ("end tag in CDATA", False),
    ("text between messages", False),
    ("nested message", False),
    ("malformed in the middle", False),
    ("malformed at the end", False),
    ("malformed tail", False),
    ("byte order mark", True),
    ("declared ASCII", False),
    ("declared XML 1.1", False),
])
def test_edge_cases_give_what_reading_here_gives(schemas, e2b_rules, started, read_here, edit, split_whole):
    messages = generated(24)
    messages[5] = messages[5].replace(b'<statusCode code="active"/>', BOGUS, 1)
    joiner = [b"\n"] * (len(messages) - 1)
    if edit == "comment between messages":
        joiner[9] = b"\n<!-- a comment: </PORR_IN049016UV> <PORR_IN049016UV> -->\n<!---->\n"
    elif edit == "end tag in a comment":
        messages[12] = _comment_end_tag(messages[12])
    elif edit == "end tag in CDATA":
        messages[12] = _cdata_end_tag(messages[12])
    elif edit == "text between messages":
        joiner[12] = b"\nsome text\n"
    elif edit == "nested message":
        messages[12] = messages[12].replace(b'<statusCode code="active"/>', b'<statusCode code="active"/>'
                                            + messages[13], 1)
    elif edit == "malformed in the middle":
        messages[12] = messages[12].replace(b"</controlActProcess>", b"</controlActProcesss>", 1)
    elif edit == "malformed at the end":
        messages[-1] = messages[-1].replace(b"</controlActProcess>", b"</controlActProcesss>", 1)
    body = messages[0] + b"".join(j + m for j, m in zip(joiner, messages[1:], strict=True))
    data = batch([body])
    if edit == "malformed tail":
        at = data.rindex(b"</receiver>")  # the batch's own N.2.r.3, after the last message
        data = data[:at] + b"</receivers>" + data[at + len(b"</receiver>"):]
    elif edit == "byte order mark":
        data = b"\xef\xbb\xbf" + data
    elif edit.startswith("declared"):
        declaration = b'<?xml version="1.0" encoding="US-ASCII"?>' if edit.endswith("ASCII") else b'<?xml version="1.1"?>'
        data = declaration + data[data.index(b"?>") + 2:]
    here = _compare(data, schemas, e2b_rules, started, read_here, REAL_READ_BATCH)
    if edit.startswith("malformed"):
        assert here[0] == "refused" and here[1].startswith("malformed XML at line ")
    else:
        assert isinstance(here, list) and here[5][0]["problems"]
    # Where the cut is sure, no message is read twice; else the rest is read here, from the message
    # the doubt begins at (all of them for the tail).
    assert read_here == ([] if split_whole else [{"end tag in a comment": 12, "end tag in CDATA": 12,
                                                   "text between messages": 13, "nested message": 12,
                                                   "malformed in the middle": 12, "malformed at the end": 23,
                                                   "malformed tail": 24, "declared ASCII": 0,
                                                   "declared XML 1.1": 0}[edit]])


def test_lone_cr_lines_are_the_files(schemas, e2b_rules, started, read_here):
    messages = generated(170)
    messages[160] = messages[160].replace(b'<statusCode code="active"/>', BOGUS, 1)
    data = batch(messages).replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    assert b"\n" not in data and line_of(data, BOGUS) > 65535
    here = _compare(data, schemas, e2b_rules, started, read_here, REAL_READ_BATCH)
    assert read_here == []
    assert [p["line"] for p in here[160][0]["problems"]] == [line_of(data, BOGUS)]


def test_a_bad_element_past_line_65535_is_named_exactly(schemas, e2b_rules, started, read_here):
    data = _varied()
    here = _compare(data, schemas, e2b_rules, started, read_here, REAL_READ_BATCH)
    assert read_here == []
    bogus = data.index(BOGUS, data.index(b"msg-150"))
    assert line_of(data, bogus) > 65535
    assert [p["line"] for p in here[150][0]["problems"]] == [line_of(data, bogus)]


def test_the_bench_batch_with_a_bogus_element(schemas, e2b_rules, started, read_here, tmp_path, monkeypatch):
    """bench/e2b.py's file with `--bad-at`, small: the line it computes from the bytes it wrote."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "e2b.py"
    monkeypatch.syspath_prepend(str(script.parent))
    spec = importlib.util.spec_from_file_location("bench_e2b", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "batch.xml"
    bad_line = bench.write_batch(200, path, bad_at=190)
    assert bad_line > 65535
    here = _compare(path.read_bytes(), schemas, e2b_rules, started, read_here, REAL_READ_BATCH)
    assert read_here == []
    assert [p["line"] for p in here[189][0]["problems"]] == [bad_line]
    assert all(not m["problems"] for i, (m, _) in enumerate(here[:-1]) if i != 189)


def test_a_file_that_fails_part_way_is_its_error(schemas, e2b_rules, started, monkeypatch):
    """A read failing after the readers have started (a disk error): its error, every reader gone."""
    data = batch(generated(60))
    real = worker._source

    def source(prefix, rest, spool):
        read_at = real(prefix, rest, spool)

        def failing(offset, size):
            if offset > len(data) // 2:
                raise OSError("disk error")
            return read_at(offset, min(size, 64 * 1024))
        return failing

    monkeypatch.setattr(worker, "_source", source)
    items = worker.read_in_workers(data, None, schemas, business_rules.RuleSet.of(e2b_rules), 2)
    with pytest.raises(OSError, match="disk error"):
        list(items)
    assert len(started) == 2 and all(p.returncode is not None for p in started)
