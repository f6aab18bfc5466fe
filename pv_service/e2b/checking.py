"""Reading a batch and checking each message on its own: the ICH schema, the business rules, the
ICSR read from it (pure: no database). The importer stores what passes; this part may run in
the reader process (e2b/worker.py), so it imports no more than lxml and the E2B modules.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

from pv_service.e2b import business_rules, reader, timestamps
from pv_service.e2b import icsr as icsr_mod
from pv_service.e2b.ack import MessageResult, Problem
from pv_service.e2b.schema_set import SchemaSet

UNREADABLE = "the message is schema-valid but its case could not be read (an element the ICSR needs is missing)"


@dataclass
class End:
    """What the batch says of itself once read; `problems`: its own elements' schema errors (AR)."""
    batch_id: str | None
    batch_created: str | None
    batch_sender: str | None
    problems: list[Problem]


def identifiers(message) -> tuple[str | None, ...]:
    """(N.2.r.1, C.1.1, N.2.r.4, N.2.r.2) of a message that may not be schema-valid, for its ACK."""
    event = icsr_mod._one(message, "h:controlActProcess/h:subject/h:investigationEvent")
    return (icsr_mod._attr(message, "h:id", "extension"),
            icsr_mod._attr(event, f"h:id[@root='{icsr_mod.ID_SAFETY_REPORT}']", "extension"),
            icsr_mod._attr(message, "h:creationTime", "value"), icsr_mod._attr(message, "h:sender/h:device/h:id", "extension"))


def check_message(el, errors: list[reader.SchemaError], rules: business_rules.RuleSet,
                  line: int, exact: bool = True) -> tuple[MessageResult, icsr_mod.Icsr | None]:
    """One message's result so far (refused with its problems, or not yet accepted) and its ICSR if
    it passed; `line`: the message's own line; `exact`: whether the elements' lines are (else the
    reactions' lines are dropped, and what the importer finds later names the message's line)."""
    if errors:
        return MessageResult(*identifiers(el), False, "rejected",
                             problems=[Problem(e.reason, e.element, e.line) for e in errors]), None
    receiver = icsr_mod._attr(el, "h:receiver/h:device/h:id", "extension")
    problems = business_rules.check(el, rules, receiver) + timestamps.problems(el)
    if problems:
        return MessageResult(*identifiers(el), False, "rejected", problems=problems), None
    try:
        c = icsr_mod.parse_message(el)
    except (AttributeError, TypeError, ValueError):  # a schema-valid shape the reader does not know: refused, not a 500
        return MessageResult(*identifiers(el), False, "rejected", problems=[Problem(UNREADABLE, None, line)]), None
    c.line = line
    if not exact:
        for r in c.reactions:
            r.line = None
    return MessageResult(c.message_id, c.safety_report_id, c.message_created, c.message_sender, False, "rejected"), c


def _exact_problems(batch: reader.BatchStream, schemas: SchemaSet, rules: business_rules.RuleSet) -> list[Problem]:
    """The current message's problems with exact lines, from its bytes parsed again on their own
    (past line 65,534 libxml2 names lines approximately; this is rare: only refused messages);
    empty if they cannot be parsed on their own. (The problems found after this point name the
    message's own line, which is exact already.)"""
    again = batch.reparsed()
    if again is None:
        return []
    copy, offset = again
    msg, _ = check_message(copy, reader.message_errors(schemas.batch, copy), rules, copy.sourceline)
    return [Problem(p.reason, p.element, p.line + offset if p.line else p.line) for p in msg.problems]


def read_batch(stream: BinaryIO, schemas: SchemaSet, rules: business_rules.RuleSet,
               start: int = 0) -> Iterator[tuple[MessageResult, icsr_mod.Icsr | None] | End]:
    """Each message of the batch as it is read, checked, then the batch's End. Raises reader.Refused
    for a file refused before parsing or found malformed part-way. The messages before number
    `start` are parsed but neither checked nor yielded (reader processes have checked them)."""
    batch = reader.BatchStream(stream)
    for i, el in enumerate(batch.messages()):
        if i < start:
            if i == 0:  # the batch's own elements need the first message's errors
                batch.first_message_errors(reader.message_errors(schemas.batch, el))
            continue
        errors = reader.message_errors(schemas.batch, el)
        if i == 0:
            batch.first_message_errors(errors)
        exact = batch.lines_exact
        msg, c = check_message(el, errors, rules, el.sourceline if exact else batch.message_line(), exact)
        if msg.problems and not exact:
            msg.problems = _exact_problems(batch, schemas, rules) or msg.problems
        yield msg, c
    root = batch.root
    wrapper = batch.wrapper_errors(schemas.batch)
    yield _end(root, wrapper)


def _end(root, wrapper: list[reader.SchemaError]) -> End:
    return End(icsr_mod._attr(root, "h:id", "extension"), icsr_mod._attr(root, "h:creationTime", "value"),
               icsr_mod._attr(root, "h:sender/h:device/h:id", "extension"),
               [Problem(e.reason, e.element, e.line) for e in wrapper])


def _piece_parser() -> etree.XMLParser:
    """The options of reader.BatchStream's parser, whose tree a message must be the same in."""
    return etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True, remove_blank_text=True)


def _only_message(doc: bytes, parser: etree.XMLParser):
    """The one message of a small document (the root's start tag, a message, its end tag); None if
    it is not well-formed or holds anything else."""
    try:
        root = etree.fromstring(doc, parser)
    except etree.XMLSyntaxError:
        return None
    return root[0] if len(root) == 1 and root[0].tag == reader._MESSAGE_TAG else None


def _shifted(problems: list[Problem], offset: int) -> list[Problem]:
    return [Problem(p.reason, p.element, p.line + offset if p.line else p.line) for p in problems]


class PieceChecker:
    """A reader process's checking of the messages split.Scan cut (each parsed as a document of its
    own, inside the batch's root start tag for its namespaces): the same result as read_batch gives
    for that message, or None where only reading the whole file can tell (the caller then does)."""

    def __init__(self, schemas: SchemaSet, rules: business_rules.RuleSet, root_tag: bytes, root_end: bytes):
        self.schemas, self.rules, self.root_tag, self.root_end = schemas, rules, root_tag, root_end
        self.parser = _piece_parser()

    def check(self, data: bytes, line: int, exact: bool) -> tuple[MessageResult, icsr_mod.Icsr | None] | None:
        """`data`: the message's bytes, lone CRs made LF (split.lf_only); `line`: the file's line they start on."""
        doc = self.root_tag + data + self.root_end
        el = _only_message(doc, self.parser)
        if el is None:
            return None
        offset = line - 1  # its line 1 is the file's `line` (the root tag is on one line)
        # Past line 65,534 read_batch names the message by its start tag's line (BatchStream.message_line).
        msg, c = check_message(el, reader.message_errors(self.schemas.batch, el), self.rules,
                               el.sourceline if exact else 1, exact)
        if msg.problems and not exact:  # as _exact_problems: parsed again as reader.reparsed() does
            copy = _only_message(doc, reader._parser())
            if copy is None:
                return None
            again, _ = check_message(copy, reader.message_errors(self.schemas.batch, copy), self.rules,
                                     copy.sourceline)
            if not again.problems:  # read_batch keeps libxml2's approximate lines: the whole file's
                return None
            msg.problems = again.problems
        msg.problems = _shifted(msg.problems, offset)
        if c is not None:
            c.line += offset
            for r in c.reactions:
                r.line = r.line + offset if r.line else None
        return msg, c


def end_of_pieces(document: bytes, schemas: SchemaSet) -> End | None:
    """The End of a batch split.Scan cut, from split.Scan.document() (the first message where it is,
    the others gone, as in BatchStream's tree once read); None if only the whole file can tell."""
    try:
        root = etree.fromstring(document, _piece_parser())
    except etree.XMLSyntaxError:
        return None
    if root.getroottree().docinfo.doctype:
        return None
    found = list(root.iter(reader._MESSAGE_TAG))
    if len(found) != 1 or found[0].getparent() is not root:
        return None
    first = {(e.line, e.reason) for e in reader.message_errors(schemas.batch, found[0])}
    wrapper = [e for e in reader.schema_errors(schemas.batch, root.getroottree()) if (e.line, e.reason) not in first]
    return _end(root, wrapper)
