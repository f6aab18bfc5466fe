"""Reading E2B(R3) XML safely: refuse before parsing what must not be parsed, then parse with a
hardened lxml parser (no DTD, no entities, no network) and validate against the ICH schema set.

Refused before parsing (the caller answers 4xx): more than the size limit, not UTF-8, a DOCTYPE
(the door to entity expansion and external entities), an E2B(R2) file (root `ichicsr`), and any
root element other than the one expected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
BATCH_ROOT = "MCCI_IN200100UV01"
ACK_ROOT = "MCCI_IN200101UV01"
MESSAGE = "PORR_IN049016UV"
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


def check_root(data: bytes, expected: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise Refused(f"the file is {len(data)} bytes; the limit is {max_bytes} (PV_E2B_MAX_BYTES)", status=413)
    name = root_name(data)
    if name.lower() == "ichicsr":
        raise Refused("this is an E2B(R2) file (root ichicsr); only E2B(R3) (root MCCI_IN200100UV01) is read")
    if name != expected:
        raise Refused(f"the root element is {name}; expected {expected}")


def parse(data: bytes) -> etree._ElementTree:
    """Parse checked bytes; malformed XML raises Refused with the line."""
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise Refused(f"malformed XML at line {line}: {exc.msg}") from None
    if tree.docinfo.doctype:  # belt and braces: the prolog check already refused it
        raise Refused("a DOCTYPE is not allowed (no DTDs or entities are read)")
    return tree


def read(data: bytes, expected: str, max_bytes: int) -> etree._ElementTree:
    check_root(data, expected, max_bytes)
    return parse(data)


def _no_ns(text: str) -> str:
    return re.sub(r"\{[^}]*\}", "", text)


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
