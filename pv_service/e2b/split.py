"""Cutting a batch's bytes into its messages without parsing it (for the reader processes, worker.py):
each PORR_IN049016UV with the file line it starts on, the batch's head (everything before the first
message) and tail (everything after the last). Each reader then parses only its own messages, each
as a small document of its own (checking.check_piece), where libxml2's lines are exact.

The cut is trusted only where the bytes leave no doubt: between two messages nothing but whitespace
and comments (checked well-formed), no other "<PORR_IN049016UV" inside a message's bytes (a nested
message, or one in a comment or CDATA), the first message a child of the root (checked by parsing the
head with it), the tail starting with a tag (a message in it is found when
checking.end_of_pieces parses the head, the first message and the tail together). Where it cannot be sure, `Unsure`
says from which message on: the caller reads the batch in process from there (reader.BatchStream),
which gives the answer, or the error, of a batch read whole. A message's bytes that are not
well-formed on their own say the same in the reader.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from pv_service.e2b import reader

SCAN = 1024 * 1024  # bytes read from the source at a time
MAX_TAIL = reader.HEAD  # the tail is kept in memory (a few hundred bytes in practice)
_START = re.compile(rb"<" + reader.MESSAGE.encode() + rb"[ \t\r\n/>]")
_ANY_START = b"<" + reader.MESSAGE.encode()
_END = reader._MESSAGE_END
# Whitespace and comments (a comment is then checked well-formed by the parser).
_GAP = re.compile(rb"(?:[ \t\r\n]+|<!--.*?-->)*", re.DOTALL)
_TAG = re.compile(rb"<[/A-Za-z_:]")
_DECLARATION = re.compile(rb"""<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.0\1""")
MAX_MESSAGE = 64 * 1024 * 1024  # a message is kept in memory whole while it is cut (FDA's: 50 KB)


class Unsure(Exception):
    """The bytes from message `index` on are not cut with certainty."""

    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


def line_ends(data: bytes, start: int = 0, end: int | None = None) -> tuple[int, bool]:
    """(line ends in data[start:end] as XML counts them: CR LF, LF and a lone CR; whether there is a
    lone CR)."""
    end = len(data) if end is None else end
    n = data.count(b"\n", start, end)
    if data.find(b"\r", start, end) < 0:  # find stops at the first CR (and is memchr): most files have none
        return n, False
    cr = data.count(b"\r", start, end)
    lone = cr - data.count(b"\r\n", start, end) if n else cr
    return n + lone, lone > 0


def lines(data: bytes) -> int:
    return line_ends(data)[0]


def lf_only(data: bytes) -> bytes:
    """XML's end-of-line handling done before the parser, whose line counter counts LF only."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


@dataclass(frozen=True)
class Piece:
    index: int
    data: memoryview  # the message's bytes, from its start tag to its end tag, as in the file
    line: int  # the file's line its first byte is on
    exact: bool  # what reader.BatchStream.lines_exact says of it: it ends before line 65,535
    lone_cr: bool  # a line of it ends with CR alone (CR LF needs no change: libxml2 counts its LF)


@dataclass(frozen=True)
class Outside:
    """What the batch holds outside its messages, for its End (checking.end_of_pieces)."""
    head: bytes
    first: bytes
    first_end_line: int  # the line the first message ends on
    tail: bytes
    tail_line: int  # the line the tail starts on


def _gap_ok(gap: bytes) -> bool:
    if b"<!--" not in gap:
        return True
    try:
        etree.fromstring(b"<a>" + gap + b"</a>", reader._parser())
    except etree.XMLSyntaxError:
        return False
    return True


def _head_ok(head: bytes, first: bytes, root_end: bytes) -> bool:
    """Whether the first message's bytes are, in the file, one message that is a child of the root."""
    try:
        root = etree.fromstring(head + first + root_end, reader._parser())
    except etree.XMLSyntaxError:
        return False
    found = list(root.iter(reader._MESSAGE_TAG))
    return len(found) == 1 and found[0].getparent() is root


def root_tags(head: bytes) -> tuple[bytes, bytes] | None:
    """reader._root_tags of the batch's first bytes (the tags each message is parsed inside); None if
    its start tag is not there whole, or the file declares what a message alone would not (XML 1.1,
    an encoding but UTF-8)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith(b"<?xml") and not _DECLARATION.match(head):
        return None
    declared = reader._ENCODING.match(head)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return None
    pos = 0
    while (m := reader._PROLOG_ITEM.match(head, pos)) is not None:
        pos = m.end()
    return reader._root_tags(head) if reader._START_TAG.match(head, pos) else None


class Scan:
    """The messages of the batch `read_at(offset, size)` returns, as Pieces in file order; once done,
    `outside`. Raises Unsure (after the pieces it is sure of)."""

    def __init__(self, read_at: Callable[[int, int], bytes], root_end: bytes):
        self._read_at, self._root_end = read_at, root_end
        self._offset, self._buf, self._pos = 0, b"", 0
        self.outside: Outside | None = None

    def _more(self) -> bool:
        chunk = self._read_at(self._offset, SCAN)
        if not chunk:
            return False
        self._offset += len(chunk)
        self._buf, self._pos = self._buf[self._pos:] + chunk, 0
        return True

    def pieces(self) -> Iterator[Piece]:
        while (m := _START.search(self._buf)) is None:
            if len(self._buf) > reader.HEAD or not self._more():
                raise Unsure(0)
        head = self._buf[:m.start()]
        self._pos = m.start()
        line, index, first = 1 + lines(head), 0, None
        while True:
            while (end := self._buf.find(_END, self._pos)) < 0:
                if len(self._buf) - self._pos > MAX_MESSAGE or not self._more():
                    raise Unsure(index)
            start, end = self._pos, end + len(_END)
            if self._buf.find(_ANY_START, start + 1, end) >= 0:
                raise Unsure(index)
            n, lone_cr = line_ends(self._buf, start, end)
            if index == 0:
                first, first_end = self._buf[start:end], line + n
                if not _head_ok(head, first, self._root_end):
                    raise Unsure(0)
            yield Piece(index, memoryview(self._buf)[start:end], line, line + n < reader.EXACT_LINES, lone_cr)
            line += n
            index += 1
            self._pos = end
            while True:
                gap = _GAP.match(self._buf, self._pos)
                at = gap.end()
                # Not sure yet what follows: a message's start tag or a comment may go on past the buffer.
                unsure = at + len(_ANY_START) + 1 > len(self._buf) or self._buf.startswith(b"<!--", at)
                if unsure and len(self._buf) - self._pos <= MAX_TAIL and self._more():
                    continue
                break
            if _START.match(self._buf, at):
                if not _gap_ok(self._buf[self._pos:at]):
                    raise Unsure(index)
                line += lines(self._buf[self._pos:at])
                self._pos = at
                continue
            if not _TAG.match(self._buf, at):  # text, CDATA, a PI or the end of the file after a message
                raise Unsure(index)
            while self._more():
                if len(self._buf) - self._pos > MAX_TAIL:
                    raise Unsure(index)
            self.outside = Outside(head, first, first_end, self._buf[self._pos:], line)
            return

    def document(self) -> bytes:
        """The batch without its messages but the first, each line where it is in the file (the
        others are as many line ends): what reader.BatchStream's tree holds once read."""
        o = self.outside
        return (lf_only(o.head) + lf_only(o.first) + b"\n" * (o.tail_line - o.first_end_line) + lf_only(o.tail))
