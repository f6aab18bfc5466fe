"""split.line_ends and the reader's framed input (worker._Input), against independent routes."""
from __future__ import annotations

import io
import os
import random
import re
import threading

import pytest

from pv_service.e2b import split, worker

SAMPLES = [b"", b"a", b"\n", b"\r", b"\r\n", b"\n\r", b"a\nb\nc", b"a\r\nb\r\n", b"a\rb\rc", b"\r\r\n\n\r",
           b"<x>\r\n<y/>\r</x>\n", b"\r\n" * 50 + b"\r", b"x" * 40 + b"\n" * 3]


def _xml_line_ends(data: bytes) -> tuple[int, bool]:
    """XML's end-of-line rule read by a regex: CR LF, a lone CR and LF are each one line end."""
    return len(re.findall(rb"\r\n|\r|\n", data)), re.search(rb"\r(?!\n)", data) is not None


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.choice(b"ab\r\n<>") for _ in range(n))


@pytest.mark.parametrize("data", SAMPLES)
def test_line_ends_count_as_xml_does(data):
    assert split.line_ends(data) == _xml_line_ends(data)
    assert split.lines(data) == _xml_line_ends(data)[0]


def test_line_ends_of_a_range_are_those_of_its_bytes():
    rng = random.Random(7)
    for _ in range(300):
        data = _random_bytes(rng, rng.randrange(0, 60))
        start = rng.randrange(0, len(data) + 1)
        end = rng.randrange(start, len(data) + 1)
        # A range's CR LF, lone CR and LF are those of the bytes cut out (a CR at its end is lone).
        assert split.line_ends(data, start, end) == _xml_line_ends(data[start:end]), (data, start, end)


def test_lf_only_leaves_the_lines_where_they_are():
    rng = random.Random(8)
    for _ in range(200):
        data = _random_bytes(rng, rng.randrange(0, 60))
        out = split.lf_only(data)
        assert b"\r" not in out
        assert out.count(b"\n") == _xml_line_ends(data)[0]
        assert re.sub(rb"\r\n|\r", b"\n", data) == out


class _Chunks:
    """A pipe's reads: at most `sizes` bytes each, in turn; records when `wait` came first."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data, self._sizes, self._at, self.reads, self.waited = data, sizes, 0, 0, 0

    def read(self, size: int) -> bytes:
        assert self.waited == self.reads + 1, "a read without the wait before it"
        chunk = self._data[self._at:self._at + min(size, self._sizes[self.reads % len(self._sizes)])]
        self._at += len(chunk)
        self.reads += 1
        return chunk


@pytest.mark.parametrize("seed", range(6))
def test_input_takes_the_frames_as_sent(seed):
    rng = random.Random(seed)
    frames = [os.urandom(rng.choice((0, 1, 18, 500, 5000))) for _ in range(200)]
    data = b"".join(frames)
    source = _Chunks(data, [rng.randrange(1, 7000) for _ in range(50)])

    def wait():
        source.waited += 1

    inp = worker._Input(source, wait)
    assert [inp.take(len(f)) for f in frames] == frames
    assert source._at == len(data)
    with pytest.raises(EOFError):
        inp.take(1)


def test_input_waits_only_when_it_would_read():
    source = _Chunks(b"abcdefgh", [8])
    waits = []
    inp = worker._Input(source, lambda: waits.append(1) or setattr(source, "waited", source.waited + 1))
    assert inp.take(3) == b"abc"
    assert inp.take(5) == b"defgh"
    assert len(waits) == 1  # the second take had its bytes already


def test_a_piece_sent_in_one_write_arrives_whole():
    """_Reader.send_piece over a real pipe, a message larger than the pipe holds (partial writes)."""
    r, w = os.pipe()
    header, body = b"H" * 18, os.urandom(300_000)
    got = io.BytesIO()

    def drain():
        with os.fdopen(r, "rb") as f:
            got.write(f.read())
    t = threading.Thread(target=drain)
    t.start()
    fake = worker._Reader.__new__(worker._Reader)
    fake.proc = type("P", (), {"stdin": os.fdopen(w, "wb", buffering=0)})()
    fake.send_piece(header, memoryview(body))
    fake.send_piece(header, memoryview(b""))
    fake.proc.stdin.close()
    t.join()
    assert got.getvalue() == header + body + header
