"""Reading a batch and checking each message on its own: the ICH schema, the business rules, the
ICSR read from it (pure: no database). The importer stores what passes; this part may run in
the reader process (e2b/worker.py), so it imports no more than lxml and the E2B modules.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pv_service.e2b import business_rules, reader
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
                  line: int) -> tuple[MessageResult, icsr_mod.Icsr | None]:
    """One message's result so far (refused with its problems, or not yet accepted) and its ICSR if
    it passed; `line`: the message's own line."""
    if errors:
        return MessageResult(*identifiers(el), False, "rejected",
                             problems=[Problem(e.reason, e.element, e.line) for e in errors]), None
    receiver = icsr_mod._attr(el, "h:receiver/h:device/h:id", "extension")
    problems = business_rules.check(el, rules, receiver)
    if problems:
        return MessageResult(*identifiers(el), False, "rejected", problems=problems), None
    try:
        c = icsr_mod.parse_message(el)
    except (AttributeError, TypeError, ValueError):  # a schema-valid shape the reader does not know: refused, not a 500
        return MessageResult(*identifiers(el), False, "rejected", problems=[Problem(UNREADABLE, None, line)]), None
    c.line = line
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


def read_batch(stream: BinaryIO, schemas: SchemaSet, rules: business_rules.RuleSet, part: int = 0,
               parts: int = 1) -> Iterator[tuple[MessageResult, icsr_mod.Icsr | None] | End]:
    """Each message of the batch as it is read, checked, then the batch's End. Raises reader.Refused
    for a file refused before parsing or found malformed part-way. With `parts` readers of the same
    file, this one checks the messages numbered `part` modulo `parts` (and part 0 the batch's own
    elements, which need the first message's errors); each parses all of it."""
    batch = reader.BatchStream(stream)
    for i, el in enumerate(batch.messages()):
        if i % parts != part:
            continue
        errors = reader.message_errors(schemas.batch, el)
        if i == 0:
            batch.first_message_errors(errors)
        exact = batch.lines_exact
        msg, c = check_message(el, errors, rules, el.sourceline if exact else batch.message_line())
        if msg.problems and not exact:
            msg.problems = _exact_problems(batch, schemas, rules) or msg.problems
        yield msg, c
    root = batch.root
    wrapper = batch.wrapper_errors(schemas.batch) if part == 0 else []
    yield End(icsr_mod._attr(root, "h:id", "extension"), icsr_mod._attr(root, "h:creationTime", "value"),
              icsr_mod._attr(root, "h:sender/h:device/h:id", "extension"),
              [Problem(e.reason, e.element, e.line) for e in wrapper])
