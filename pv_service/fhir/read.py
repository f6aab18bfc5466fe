"""Reading a FHIR request body (JSON or XML, R5 or R4/R4B) into fhir.resources models.

The version comes from the Content-Type parameter `fhirVersion` (4.0, 4.3, 5.0) or, without
one, from the AdverseEvent's shape: elements only R4 has (event, date, suspectEntity.instance,
...) or only R5 has (status, code, occurrence[x], suspectEntity.instanceReference, ...). A body
of both shapes, or of neither, is refused with the elements that decide and a request to say
which. XML is parsed by lxml with no DTD, entities or network (a DOCTYPE is refused), then by
fhir.resources' own XML reader.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from lxml import etree
from pydantic import ValidationError

from pv_service.fhir.outcome import FhirError, Issue, from_validation

R5, R4B = "R5", "R4B"
FHIR_NS = "http://hl7.org/fhir"
# (Not DSTU2's application/json+fhir: the body checks of common/strict_input.py read +json types.)
JSON_TYPES = frozenset({"application/fhir+json", "application/json"})
XML_TYPES = frozenset({"application/fhir+xml", "application/xml", "text/xml"})
VERSION_PARAMS = {"4.0": R4B, "4.3": R4B, "5.0": R5}
MIME_VERSION = {R5: "5.0", R4B: "4.3"}

# Elements of AdverseEvent that only one version has (R4 and R4B share theirs).
ONLY_R4 = ("event", "date", "contributor", "severity", "resultingCondition", "subjectMedicalHistory",
           "referenceDocument")
ONLY_R5 = ("status", "code", "occurrenceDateTime", "occurrencePeriod", "occurrenceTiming", "participant",
           "resultingEffect", "contributingFactor", "preventiveAction", "mitigatingAction", "supportingInfo",
           "note", "expectedInResearchStudy")
SUSPECT_R4 = ("instance",)
SUSPECT_R5 = ("instanceReference", "instanceCodeableConcept")


@dataclass
class Parsed:
    version: str  # R5 or R4B
    resource: Any  # the validated AdverseEvent or Bundle
    format: str  # json or xml


def media(content_type: str | None) -> tuple[str, str | None]:
    """('json' | 'xml', version hint) of a Content-Type; 415 for another type or an unknown fhirVersion."""
    parts = [p.strip() for p in (content_type or "").split(";")]
    kind = parts[0].lower()
    if kind in JSON_TYPES:
        fmt = "json"
    elif kind in XML_TYPES:
        fmt = "xml"
    else:
        raise FhirError.one(415, "", f"send application/fhir+json or application/fhir+xml, not "
                                             f"{kind or 'no Content-Type'}", "not-supported")
    hint = None
    for p in parts[1:]:
        name, _, value = p.partition("=")
        if name.strip().lower() == "fhirversion":
            value = value.strip().strip('"')
            hint = VERSION_PARAMS.get(".".join(value.split(".")[:2]))
            if hint is None:
                raise FhirError.one(415, "", f"fhirVersion {value!r} is not supported: 4.0 or 4.3 (R4/R4B) "
                                                     "or 5.0 (R5)", "not-supported")
    return fmt, hint


def negotiate(accept: str | None) -> tuple[str | None, str | None]:
    """('json' | 'xml' | None, version | None) of the media type an Accept header prefers among those
    answered here (RFC 9110: the highest q, the first listed on a tie; q=0 is "not acceptable"); None
    for a wildcard or when it names none of them (the caller decides then)."""
    best: tuple[float, int, str | None, str | None] | None = None
    for order, item in enumerate((accept or "").split(",")):
        parts = [p.strip() for p in item.split(";")]
        kind, q = parts[0].lower(), 1.0
        params = []
        for p in parts[1:]:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            else:
                params.append(p)
        if q <= 0 or not (kind in JSON_TYPES or kind in XML_TYPES or kind in ("*/*", "application/*")):
            continue
        try:
            fmt, version = media(";".join([kind, *params])) if kind not in ("*/*", "application/*") else (None, None)
        except FhirError:  # an unknown fhirVersion: that type is not one answered here
            continue
        if best is None or q > best[0]:
            best = (q, order, fmt, version)
    return (best[2], best[3]) if best else (None, None)


def accept_version(accept: str | None) -> str | None:
    """The version the preferred type of an Accept header asks for (fhirVersion parameter), if any."""
    return negotiate(accept)[1]


def _markers(fields: set[str], suspects: list[set[str]], shapes: dict[str, str], path: str) -> tuple[list, list]:
    r4 = [f"{path}.{f}" for f in ONLY_R4 if f in fields]
    r5 = [f"{path}.{f}" for f in ONLY_R5 if f in fields]
    for i, s in enumerate(suspects):
        r4 += [f"{path}.suspectEntity[{i}].{f}" for f in SUSPECT_R4 if f in s]
        r5 += [f"{path}.suspectEntity[{i}].{f}" for f in SUSPECT_R5 if f in s]
    # JSON only: cardinalities that changed (R4 one identifier and outcome, R5 lists; causality the reverse).
    for name, version in shapes.items():
        (r4 if version == R4B else r5).append(f"{path}.{name}")
    return r4, r5


def _json_events(doc: dict) -> list[tuple[str, dict]]:
    if doc.get("resourceType") == "AdverseEvent":
        return [("AdverseEvent", doc)]
    entries = doc.get("entry") if isinstance(doc.get("entry"), list) else []
    return [(f"Bundle.entry[{i}].resource", e["resource"]) for i, e in enumerate(entries)
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "AdverseEvent"]


def _json_markers(doc: dict) -> tuple[list, list]:
    r4, r5 = [], []
    for path, ae in _json_events(doc):
        suspects = [set(s) for s in ae.get("suspectEntity", []) if isinstance(s, dict)] \
            if isinstance(ae.get("suspectEntity"), list) else []
        shapes = {name: R4B if isinstance(ae[name], dict) else R5
                  for name in ("identifier", "outcome") if isinstance(ae.get(name), (dict, list))}
        for i, s in enumerate(ae.get("suspectEntity") or []):
            if isinstance(s, dict) and isinstance(s.get("causality"), (dict, list)):
                shapes[f"suspectEntity[{i}].causality"] = R4B if isinstance(s["causality"], list) else R5
        a, b = _markers(set(ae), suspects, shapes, path)
        r4 += a
        r5 += b
    return r4, r5


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _xml_markers(root) -> tuple[list, list]:
    if _local(root) == "AdverseEvent":
        events = [("AdverseEvent", root)]
    else:
        events = []
        for i, entry in enumerate(e for e in root if _local(e) == "entry"):
            for res in (r for r in entry if _local(r) == "resource"):
                events += [(f"Bundle.entry[{i}].resource", ae) for ae in res if _local(ae) == "AdverseEvent"]
    r4, r5 = [], []
    for path, ae in events:
        fields = {_local(c) for c in ae}
        suspects = [{_local(c) for c in s} for s in ae if _local(s) == "suspectEntity"]
        a, b = _markers(fields, suspects, {}, path)
        r4 += a
        r5 += b
    return r4, r5


def _version(r4: list[str], r5: list[str], hint: str | None, root: str) -> str:
    if hint is not None:
        wrong = r4 if hint == R5 else r5
        if wrong:
            other = "R4/R4B" if hint == R5 else "R5"
            raise FhirError(422, [Issue(p, f"is an {other} element; this request says fhirVersion="
                                           f"{MIME_VERSION[hint]} ({hint}): send it in {hint}'s shape or say "
                                           f"fhirVersion={MIME_VERSION[R4B if hint == R5 else R5]}", "structure")
                                  for p in wrong])
        return hint
    if r4 and r5:
        raise FhirError(422, [Issue(p, "is an R4/R4B element", "structure") for p in r4]
                        + [Issue(p, "is an R5 element: a resource is R4/R4B or R5, not both (say which with the "
                                    "Content-Type parameter fhirVersion=4.0, 4.3 or 5.0)", "structure") for p in r5])
    if r4:
        return R4B
    if r5:
        return R5
    raise FhirError.one(422, root, "cannot tell FHIR R4/R4B from R5 by its elements (no AdverseEvent.code or event, "
                                   "status, occurrence or suspectEntity): say which with the Content-Type parameter "
                                   "fhirVersion=4.0, 4.3 or 5.0", "required")


def model_class(version: str, resource_type: str):
    """The fhir.resources class of a resource type in a version; None for a name FHIR does not have."""
    if version == R5:
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None


def _unknown_types(doc: dict, version: str) -> list[Issue]:
    entries = doc.get("entry") if doc.get("resourceType") == "Bundle" and isinstance(doc.get("entry"), list) else []
    issues = []
    for i, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        kind = res.get("resourceType") if isinstance(res, dict) else None
        if not isinstance(kind, str) or model_class(version, kind) is None:
            issues.append(Issue(f"Bundle.entry[{i}].resource", f"unknown resource type {kind!r} in FHIR {version}"
                                if isinstance(kind, str) else "an entry's resource needs a resourceType",
                                "not-supported"))
    return issues


_DATE_KEY = re.compile(r"(?i)date|instant|lastUpdated")


def _numbers_as_dates(doc: Any, root: str) -> list[Issue]:
    """FHIR dates are strings in JSON; pydantic would take a number as a Unix time. (A loop, not
    recursion: JSON may nest deeper than Python's stack.)"""
    out, stack = [], [(doc, root)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and _DATE_KEY.search(k):
                    out.append(Issue(f"{path}.{k}", "a date is a string (YYYY-MM-DD or a dateTime), not a number",
                                     "value"))
                else:
                    stack.append((v, f"{path}.{k}"))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    return sorted(out, key=lambda i: i.expression)


def _check_type(kind: Any, expected: tuple[str, ...]) -> str:
    if kind not in expected:
        shown = kind if isinstance(kind, str) else "none"
        raise FhirError.one(422, "Resource", f"resource type {shown[:64]!r} is not taken here: send "
                                             f"{' or '.join(expected)}", "not-supported")
    return kind


def _validate(cls, root: str, call, tree=None):
    """`tree`: the XML document parsed, to name an element the reader does not know by its path and line."""
    try:
        return call()
    except ValidationError as exc:
        raise FhirError(422, from_validation(root, exc.errors(include_url=False, include_input=False))) from None
    except (KeyError, ValueError, TypeError, AttributeError, RecursionError, etree.LxmlError) as exc:
        # fhir.resources' XML reader raises these for names it does not know (a KeyError of the name).
        unknown = _unknown_element(tree, exc.args[0]) if tree is not None and isinstance(exc, KeyError) \
            and exc.args and isinstance(exc.args[0], str) else None
        if unknown is not None:
            path, line = unknown
            raise FhirError.one(422, path, f"is not an element of this resource in this FHIR version "
                                           f"(line {line})", "structure") from None
        raise FhirError.one(422, root, f"not a valid {root} in this FHIR version ({type(exc).__name__}: "
                                       f"{str(exc)[:200]})", "structure") from None


def _unknown_element(root, name: str) -> tuple[str, int] | None:
    """(FHIRPath-like path, line) of the first element named `name` in the FHIR namespace, or None."""
    for el in root.iter(f"{{{FHIR_NS}}}{name}"):
        parts = []
        node = el
        while node is not None:
            parent, name = node.getparent(), _local(node)
            same = [c for c in parent if c.tag == node.tag] if parent is not None else [node]
            parts.append(f"{name}[{same.index(node)}]" if len(same) > 1 else name)
            node = parent
        parts.reverse()
        # a resource inside a Bundle entry or `contained` is named by its element, as FHIRPath does
        path = ".".join(p for i, p in enumerate(parts)
                        if not (i and parts[i - 1].split("[")[0] in ("resource", "contained")))
        return path, el.sourceline or 0
    return None


# The prolog (BOM, declaration, comments, processing instructions, white space), then a DTD.
_DOCTYPE_FIRST = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*<!(?:DOCTYPE|ENTITY)", re.S)


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False)


def parse(data: bytes, fmt: str, hint: str | None, expected: tuple[str, ...]) -> Parsed:
    if fmt == "json":
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FhirError.one(400, "Resource", f"malformed JSON: {exc}", "structure") from None
        if not isinstance(doc, dict):
            raise FhirError.one(400, "Resource", "a FHIR resource is a JSON object", "structure")
        kind = _check_type(doc.get("resourceType"), expected)
        version = _version(*_json_markers(doc), hint, kind)
        issues = _unknown_types(doc, version) + _numbers_as_dates(doc, kind)
        if issues:
            raise FhirError(422, issues)
        cls = model_class(version, kind)
        return Parsed(version, _validate(cls, kind, lambda: cls.model_validate(doc)), fmt)
    # Checked before parsing: an entity the DTD declares would otherwise fail as "not defined".
    if _DOCTYPE_FIRST.match(data):
        raise FhirError.one(400, "Resource", "a DOCTYPE is not allowed (no DTDs or entities are read)", "security")
    try:
        root = etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise FhirError.one(400, "Resource", f"malformed XML at line {exc.lineno or 0}: {exc.msg}", "structure") from None
    if root.getroottree().docinfo.doctype:
        raise FhirError.one(400, "Resource", "a DOCTYPE is not allowed (no DTDs or entities are read)", "security")
    if etree.QName(root).namespace != FHIR_NS:
        raise FhirError.one(422, "Resource", f"FHIR XML is in the namespace {FHIR_NS}", "structure")
    kind = _check_type(_local(root), expected)
    version = _version(*_xml_markers(root), hint, kind)
    cls = model_class(version, kind)
    return Parsed(version, _validate(cls, kind, lambda: cls.model_validate_xml(data, xmlparser=_xml_parser()), root),
                  fmt)
