"""Reading E2B(R3) XML safely: refuse before parsing what must not be parsed, then parse with a
hardened lxml parser (no DTD, no entities, no network) and validate against the ICH schema set.

Refused before parsing (the caller answers 4xx): more than the size limit, not UTF-8, a DOCTYPE
(the door to entity expansion and external entities), an E2B(R2) file (root `ichicsr`), and any
root element other than the one expected.

A batch is read as a stream (`BatchStream`): the prolog is checked before any byte reaches the
parser, each message is handed over when its end tag is read and dropped after, so memory stays
flat however many messages the file holds; each is validated on its own (`message_errors`),
with the lines of the file.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
# The prefixes the business rules' XPaths may use (alerts/e2b_rules.yaml).
RULE_NS = {"h": HL7, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
BATCH_ROOT = "MCCI_IN200100UV01"
ACK_ROOT = "MCCI_IN200101UV01"
MESSAGE = "PORR_IN049016UV"
# The prolog (declaration, comments) must end within the first HEAD bytes; the rest is fed in CHUNKs.
HEAD = 1024 * 1024
CHUNK = 1024 * 1024
EXACT_LINES = 65535  # libxml2 names lines exactly below this
_MESSAGE_TAG = f"{{{HL7}}}{MESSAGE}"
_MESSAGE_END = f"</{MESSAGE}>".encode()
# Between two elements: markup in which "<" does not open a tag, or a message's start tag.
_MARKUP = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|(<" + MESSAGE.encode() + rb"(?=[\s/>]))", re.DOTALL)
_START_TAG = re.compile(rb"""<([^\s/>]+)(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*>""")
XML_TYPES = ("application/xml", "text/xml", "application/hl7-v3+xml")

# What may precede the root element: the XML declaration, comments, processing instructions, space.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_ROOT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


class Refused(Exception):
    """The file is refused before parsing; `reason` says why (no content is echoed)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class SchemaError:
    line: int
    element: str  # the XPath lxml reports, without namespace prefixes
    reason: str


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def root_name(data: bytes) -> str:
    """The local name of the root element, read from the bytes (a DOCTYPE is refused on the way)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:4] in (b"\x00<\x00?", b"<\x00?\x00"):
        raise Refused("E2B(R3) files are UTF-8; this one is UTF-16")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    declared = _ENCODING.match(data)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        raise Refused(f"E2B(R3) files are UTF-8; this one declares {declared.group(1).decode('ascii')}")
    pos = 0
    while True:
        m = _PROLOG_ITEM.match(data, pos)
        if m is None:
            break
        pos = m.end()
    if data.startswith(b"<!DOCTYPE", pos) or data.startswith(b"<!ENTITY", pos):
        raise Refused("a DOCTYPE is not allowed (no DTDs or entities are read)")
    m = _ROOT.match(data, pos)
    if m is None:
        raise Refused("not XML: no root element at the start of the file")
    return m.group(2).decode("ascii")


def _pieces(data: bytes) -> list[bytes]:
    """`data` cut after each message end tag (one inside a comment only makes a piece more)."""
    out, pos = [], 0
    while (i := data.find(_MESSAGE_END, pos)) >= 0:
        out.append(data[pos:i + len(_MESSAGE_END)])
        pos = i + len(_MESSAGE_END)
    if pos < len(data):
        out.append(data[pos:])
    return out


def _root_tags(head: bytes) -> tuple[bytes, bytes]:
    """The root's start tag on one line (its line breaks are spaces between attributes, or in values
    that XML turns into spaces anyway), and its end tag."""
    pos = 0
    while (m := _PROLOG_ITEM.match(head, pos)) is not None:
        pos = m.end()
    m = _START_TAG.match(head, pos)
    if m is None:  # a start tag longer than the head, or malformed: the parser will say
        return b"<" + BATCH_ROOT.encode() + b">", b"</" + BATCH_ROOT.encode() + b">"
    return m.group(0).replace(b"\r", b" ").replace(b"\n", b" "), b"</" + m.group(1) + b">"


def check_root(data: bytes, expected: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise Refused(f"the file is {len(data)} bytes; the limit is {max_bytes} (PV_E2B_MAX_BYTES)", status=413)
    check_head(data, expected)


def check_head(data: bytes, expected: str) -> None:
    """The checks of `check_root` but the size, on the file or its first bytes (the root is named there)."""
    name = root_name(data)
    if name.lower() == "ichicsr":
        raise Refused("this is an E2B(R2) file (root ichicsr); only E2B(R3) (root MCCI_IN200100UV01) is read")
    if name != expected:
        raise Refused(f"the root element is {name}; expected {expected}")


def _malformed(exc: etree.XMLSyntaxError) -> Refused:
    return Refused(f"malformed XML at line {exc.lineno or 0}: {exc.msg}")


def parse(data: bytes) -> etree._ElementTree:
    """Parse checked bytes; malformed XML raises Refused with the line."""
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        raise _malformed(exc) from None
    if tree.docinfo.doctype:  # belt and braces: the prolog check already refused it
        raise Refused("a DOCTYPE is not allowed (no DTDs or entities are read)")
    return tree


def read(data: bytes, expected: str, max_bytes: int) -> etree._ElementTree:
    check_root(data, expected, max_bytes)
    return parse(data)


class BatchStream:
    """One MCCI_IN200100UV01 batch read from a binary stream, one PORR_IN049016UV message at a time.

    `messages()` checks the prolog (as `check_root`, but the size) before the parser sees a byte,
    then yields each message when its end tag is read and removes it from the tree once the caller
    is done with it. The first message is kept, so that `wrapper_errors` can validate the batch's
    own elements (the schema wants at least one message). Malformed XML raises Refused with its
    line when it is met, so a caller storing as it goes must roll back.

    Lines: libxml2 names lines exactly up to 65,534; past that it names an element by the line its
    first text ends on (usually the next one). So the bytes of the current message are kept while
    it is handled, and `message_line()` / `reparsed()` give its lines exactly when they are needed.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.root: etree._Element | None = None
        self._first: etree._Element | None = None
        self._first_errors: set[tuple[int, str]] = set()
        self._raw = b""  # the bytes from the end of the previous message to the end of this one
        self._line = 1  # the file's line where they start
        self._index = 0

    def messages(self) -> Iterator[etree._Element]:
        head = self._stream.read(HEAD)
        check_head(head, BATCH_ROOT)
        self._root_tag, self._root_end = _root_tags(head)
        # No DTD reaches the parser (the prolog check refuses a DOCTYPE), so no entity can be declared:
        # "internal" leaves external ones unloaded, where False would make the push parser report an
        # undefined entity as "no element found", without its line.
        # Whitespace between elements is dropped (about half the nodes; validation and the reader ignore it):
        # a tenth less time in parsing, validating and reading. Whitespace-only content is kept.
        parser = etree.XMLPullParser(events=("end",), tag=_MESSAGE_TAG, resolve_entities="internal", no_network=True,
                                     load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True,
                                     remove_blank_text=True)
        fed: list[bytes] = []
        chunk, carry = head, b""
        while True:
            data, carry = carry + chunk, b""
            if chunk and data.endswith(b"\r"):  # it may be the CR of a CR LF split between chunks
                data, carry = data[:-1], b"\r"
            if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
                # XML's own end-of-line handling (XML 1.0 section 2.11), done before the parser, whose line
                # counter counts LF only: so a file ending its lines with CR alone gets its lines named too
                # (CR LF needs nothing: its LF is counted once).
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            # Fed up to each message end tag, so that a message's end event tells where its bytes end.
            for piece in _pieces(data):
                events = self._feed(parser, piece)
                fed.append(piece)
                for _, message in events:
                    if self.root is None:
                        self.root = message.getroottree().getroot()
                    if message.getparent() is not self.root:
                        continue  # a message inside a message: the schema refuses the outer one
                    self._raw, fed = b"".join(fed), []
                    yield message
                    self._line += self._raw.count(b"\n")
                    self._index += 1
                    if self._first is None:
                        self._first = message
                    else:
                        self.root.remove(message)
            if not chunk:
                break
            chunk = self._stream.read(CHUNK)
        try:
            self.root = parser.close()
        except etree.XMLSyntaxError as exc:
            raise _malformed(exc) from None
        if self.root.getroottree().docinfo.doctype:  # belt and braces: the prolog check refused it
            raise Refused("a DOCTYPE is not allowed (no DTDs or entities are read)")

    @staticmethod
    def _feed(parser: etree.XMLPullParser, piece: bytes) -> list:
        try:
            parser.feed(piece)
            return list(parser.read_events())
        except etree.XMLSyntaxError as exc:
            raise _malformed(exc) from None

    @property
    def lines_exact(self) -> bool:
        """Whether libxml2's lines of the current message are exact (it ends before line 65,535)."""
        return self._line + self._raw.count(b"\n") < EXACT_LINES

    def message_line(self) -> int:
        """The file's line of the current message's start tag."""
        for m in _MARKUP.finditer(self._raw):
            if m.group(1):
                return self._line + self._raw.count(b"\n", 0, m.start())
        return self._line

    def reparsed(self) -> tuple[etree._Element, int] | None:
        """The current message parsed again on its own (inside the batch's root start tag, for its
        namespaces), where libxml2 names every line exactly, and what to add to its lines; None if
        that cannot be done (a root start tag past the first MiB)."""
        if self._index == 0:  # its bytes start at the file's start: prolog, root and batch header included
            data, offset = self._raw + self._root_end, 0
        else:
            data, offset = self._root_tag + self._raw + self._root_end, self._line - 1
        try:
            found = list(etree.fromstring(data, _parser()).iterchildren(_MESSAGE_TAG))
        except etree.XMLSyntaxError:
            return None
        return (found[-1], offset) if found else None

    def first_message_errors(self, errors: list[SchemaError]) -> None:
        """The schema errors the first message had on its own (they are its, not the batch's)."""
        self._first_errors = {(e.line, e.reason) for e in errors}

    def wrapper_errors(self, schema: etree.XMLSchema) -> list[SchemaError]:
        """Once read: the schema errors of the batch outside its messages (the first one's are its own)."""
        return [e for e in schema_errors(schema, self.root.getroottree()) if (e.line, e.reason) not in self._first_errors]


# a namespace in Clark notation ({urn:hl7-org:v3}name): a URI, so a scheme and a colon;
# a pattern's {1,8} quoted in the same message must stay as it is
_CLARK_NS = re.compile(r"\{[A-Za-z][A-Za-z0-9+.\-]*:[^{}]*\}")


def _no_ns(text: str) -> str:
    return _CLARK_NS.sub("", text)


def element_path(el: etree._Element) -> str:
    """The element's path by local names (lxml reports positions only: /*/*[6]/...)."""
    names = [etree.QName(a).localname for a in reversed([el, *el.iterancestors()])]
    return "/" + "/".join(names)


def _readable(tree: etree._ElementTree, path: str | None) -> str:
    try:
        found = tree.xpath(path) if path else []
    except etree.XPathError:
        found = []
    return element_path(found[0]) if found and isinstance(found[0], etree._Element) else _no_ns(path or "")


def schema_errors(schema: etree.XMLSchema, tree: etree._ElementTree) -> list[SchemaError]:
    if schema.validate(tree):
        return []
    return [SchemaError(e.line, _readable(tree, e.path), _no_ns(e.message)) for e in schema.error_log]


ITS = "ITSVersion"


def message_errors(schema: etree.XMLSchema, message: etree._Element) -> list[SchemaError]:
    """The schema errors of one PORR_IN049016UV of a batch, validated where it lies (no copy: the
    lines are the file's). As a root it is checked against the schema's global PORR_IN049016UV,
    which is the batch's message type plus a required ITSVersion="XML_1.0": so the attribute is
    added for the check, and one the sender put there is refused as the batch's type refuses it."""
    own = message.get(ITS)
    out = [] if own is None else [SchemaError(message.sourceline, element_path(message), f"Element '{MESSAGE}', "
                                              f"attribute '{ITS}': The attribute '{ITS}' is not allowed.")]
    message.set(ITS, "XML_1.0")
    try:
        valid = schema.validate(message)
    finally:
        if own is None:
            del message.attrib[ITS]
        else:
            message.set(ITS, own)
    if not valid:
        out += [SchemaError(e.line, _readable_in(message, e.path), _no_ns(e.message)) for e in schema.error_log]
    return out


def _readable_in(message: etree._Element, path: str | None) -> str:
    """`path` as lxml reports it from the message as root (/*/*[6]/...) -> the element's path in the batch."""
    rest = (path or "").split("/", 2)[2:]  # drop the leading "" and the message's own step
    try:
        found = message.xpath(rest[0]) if rest else [message]
    except etree.XPathError:
        found = []
    return element_path(found[0]) if found and isinstance(found[0], etree._Element) else _no_ns(path or "")
