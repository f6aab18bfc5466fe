"""ICH acknowledgements (MCCI_IN200101UV01): writing ours, reading a regulator's.

Codes (ICH E2B(R3) IG, ACK.A.4 / ACK.B.r.6): batch AA (all accepted), AE (some messages
refused), AR (the batch as a whole refused); per message CA (accepted) or CR (refused).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

from pv_service.e2b.reader import ACK_ROOT, HL7, NS

XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACK_CODES = "2.16.840.1.113883.3.989.2.1.1.24"
# OIDs of the ACK's identifiers (ICH E2B(R3) IG, ACK section).
OID = {"ack_batch": "2.16.840.1.113883.3.989.2.1.3.20", "ack_message": "2.16.840.1.113883.3.989.2.1.3.19",
       "message_receiver": "2.16.840.1.113883.3.989.2.1.3.16", "message_sender": "2.16.840.1.113883.3.989.2.1.3.15",
       "batch_receiver": "2.16.840.1.113883.3.989.2.1.3.18", "batch_sender": "2.16.840.1.113883.3.989.2.1.3.17",
       "local_message": "2.16.840.1.113883.3.989.2.1.3.21", "icsr_message": "2.16.840.1.113883.3.989.2.1.3.1",
       "icsr_batch": "2.16.840.1.113883.3.989.2.1.3.22", "interaction": "2.16.840.1.113883.1.6"}


@dataclass(frozen=True)
class Problem:
    reason: str
    element: str | None = None
    line: int | None = None

    def text(self) -> str:
        where = ", ".join(x for x in (self.element and f"element {self.element}",
                                      self.line and f"line {self.line}") if x)
        return f"{where}: {self.reason}" if where else self.reason


@dataclass
class MessageResult:
    message_id: str | None
    safety_report_id: str | None
    message_created: str | None
    message_sender: str | None
    accepted: bool
    outcome: str  # created, unchanged, rejected
    case_id: int | None = None
    version: int | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class BatchResult:
    batch_id: str | None
    batch_sender: str | None
    batch_created: str | None
    messages: list[MessageResult]
    problems: list[Problem] = field(default_factory=list)  # batch-level: AR

    @property
    def code(self) -> str:
        if self.problems or not self.messages:
            return "AR"
        return "AA" if all(m.accepted for m in self.messages) else "AE"

    def as_json(self) -> dict:
        return {
            "acknowledgement": self.code, "batch_id": self.batch_id, "batch_sender": self.batch_sender,
            "errors": [p.__dict__ for p in self.problems],
            "messages": [{"message_id": m.message_id, "safety_report_id": m.safety_report_id,
                          "acknowledgement": "CA" if m.accepted else "CR", "outcome": m.outcome,
                          "case_id": m.case_id, "version": m.version, "errors": [p.__dict__ for p in m.problems]}
                         for m in self.messages],
        }


def _e(parent, tag: str, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{HL7}}}{tag}")
    for k, v in attrs.items():
        if v is not None:
            el.set(k.rstrip("_"), v)
    return el


def _device(parent, kind: str, oid: str, ident: str) -> None:
    d = _e(_e(parent, kind, typeCode="RCV" if kind == "receiver" else "SND"), "device", classCode="DEV",
           determinerCode="INSTANCE")
    _e(d, "id", extension=ident, root=oid)


def _date_line(parent, code: str, name: str, ts: str | None) -> None:
    """An attentionLine carrying a date of the received batch or message (ACK.A.3, ACK.B.r.5)."""
    if ts:
        line = _e(parent, "attentionLine")
        _e(line, "keyWordText", code=code, codeSystem=ACK_CODES, codeSystemVersion="1.0", displayName=name)
        _e(line, "value", value=ts).set(f"{{{XSI}}}type", "TS")


def _ts(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def build(result: BatchResult, our_id: str, ack_number: str, now: dt.datetime) -> bytes:
    """The ACK for a received batch, from `our_id` (the receiver of the batch) to its sender."""
    root = etree.Element(f"{{{HL7}}}{ACK_ROOT}", nsmap={None: HL7, "xsi": XSI})
    root.set("ITSVersion", "XML_1.0")
    _e(root, "id", extension=ack_number, root=OID["ack_batch"])
    _e(root, "creationTime", value=_ts(now))
    _e(root, "responseModeCode", code="D")
    _e(root, "interactionId", extension=ACK_ROOT, root=OID["interaction"])
    sender = result.batch_sender or "UNKNOWN"
    for i, m in enumerate(result.messages, 1):
        msg = _e(root, "MCCI_IN000002UV01")
        _e(msg, "id", extension=f"{ack_number}-{i}", root=OID["ack_message"])
        _e(msg, "creationTime", value=_ts(now))
        _e(msg, "interactionId", extension="MCCI_IN000002UV01", root=OID["interaction"])
        _e(msg, "processingCode", code="P")
        _e(msg, "processingModeCode", code="T")
        _e(msg, "acceptAckCode", code="NE")
        _device(msg, "receiver", OID["message_receiver"], m.message_sender or sender)
        _device(msg, "sender", OID["message_sender"], our_id)
        _date_line(msg, "1", "dateOfIcsrMessageCreation", m.message_created)
        ack = _e(msg, "acknowledgement", typeCode="CA" if m.accepted else "CR")
        target = _e(ack, "targetMessage")
        _e(target, "id", extension=" ".join(x for x in (m.message_id, m.safety_report_id) if x) or "UNKNOWN",
           root=OID["icsr_message"])
        details = m.problems or [Problem("report loaded" if m.outcome == "created" else "already received: unchanged")]
        for p in details:
            _e(_e(ack, "acknowledgementDetail"), "text").text = p.text()
    _device(root, "receiver", OID["batch_receiver"], sender)
    _device(root, "sender", OID["batch_sender"], our_id)
    _date_line(root, "3", "dateOfIcsrBatchTransmission", result.batch_created)
    ack = _e(root, "acknowledgement", typeCode=result.code)
    _e(_e(ack, "targetBatch"), "id", extension=result.batch_id or "UNKNOWN", root=OID["icsr_batch"])
    summary = result.problems or [Problem({"AA": "all messages accepted",
                                           "AE": "some messages refused: see each message",
                                           "AR": "no message in the batch"}[result.code])]
    for p in summary:
        _e(_e(ack, "acknowledgementDetail"), "text").text = p.text()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclass
class ReceivedAck:
    """A regulator's ACK, read leniently (real gateway ACKs often fail their own schema)."""
    batch_code: str | None
    batch_id: str | None
    local_number: str | None
    messages: list[tuple[str | None, str | None, list[str]]]  # (code, target message id, texts)
    batch_sender: str | None = None  # ACK.M.2

    @property
    def accepted(self) -> bool:
        codes = [m[0] for m in self.messages]
        return self.batch_code == "AA" or (bool(codes) and all(c == "CA" for c in codes))


def read(tree: etree._ElementTree) -> ReceivedAck:
    root = tree.getroot()

    def one(node, path):
        found = node.xpath(path, namespaces=NS)
        return found[0] if found else None

    msgs = []
    for m in root.xpath("h:MCCI_IN000002UV01", namespaces=NS):
        ack = one(m, "h:acknowledgement")
        msgs.append((ack.get("typeCode") if ack is not None else None,
                     one(m, "h:acknowledgement/h:targetMessage/h:id/@extension"),
                     [t.strip() for t in m.xpath("h:acknowledgement/h:acknowledgementDetail/h:text/text()",
                                                 namespaces=NS)]))
    return ReceivedAck(one(root, "h:acknowledgement/@typeCode"),
                       one(root, "h:acknowledgement/h:targetBatch/h:id/@extension"),
                       one(root, "h:attentionLine[h:keyWordText/@code='2']/h:value/@extension"), msgs,
                       one(root, "h:sender/h:device/h:id/@extension"))


# The ACK's batch sender (ACK.M.2) is the receiver our batch named (N.1.4, e2b/export.py): its regulator.
ACK_SENDERS = {"ZZFDA": "FDA", "ZZFDA_PREMKT": "FDA", "NMPA": "NMPA"}


def verdict_for(data: bytes, max_bytes: int):
    """Read a regulator's ACK leniently (hardened parse, no schema) and return a function of the case's
    identifiers -> (accepted, ACK date, reference, reason), and the jurisdiction its sender names (or None).
    Raises InvalidInput when it is not an ACK."""
    from pv_service.common.errors import InvalidInput
    from pv_service.e2b import reader

    try:
        tree = reader.read(data, ACK_ROOT, max_bytes)
    except reader.Refused as exc:
        raise InvalidInput.one(("body",), exc.reason) from None
    received = read(tree)
    created = tree.getroot().xpath("h:creationTime/@value", namespaces=NS)
    date = _date(created[0]) if created else None
    if date is None:
        raise InvalidInput.one(("body", "creationTime"), "the ACK has no date of transmission (ACK.M.4)")

    def verdict(case_ids: set[str]):
        mine = [m for m in received.messages if m[1] and set(m[1].split()) & case_ids]
        named = sorted({i for m in received.messages if m[1] for i in m[1].split()})
        if not mine and named:  # it acknowledges other reports: recording it here would stop the wrong clock
            raise InvalidInput.one(("body", "acknowledgement"), "the ACK acknowledges report(s) "
                                   f"{', '.join(named)[:300]}, none of which is this case")
        if not mine and len(received.messages) == 1:
            mine = received.messages  # one message naming no report: it can only be this case's
        if mine:
            code, target, texts = mine[0]
            accepted = code == "CA"
        else:
            code, target, texts = received.batch_code, received.batch_id, []
            accepted = code == "AA"
        if code not in ("CA", "CR", "AA", "AE", "AR"):
            raise InvalidInput.one(("body", "acknowledgement"), "no acknowledgement code for this case in the ACK")
        reference = received.local_number or target
        reason = None if accepted else (f"{code}: " + "; ".join(texts) if texts else code)
        return accepted, date, (reference or None) and reference[:100], reason and reason[:2000]

    return verdict, ACK_SENDERS.get((received.batch_sender or "").strip().upper())


def _date(ts: str) -> dt.date | None:
    try:
        return dt.date(int(ts[:4]), int(ts[4:6]), int(ts[6:8]))
    except ValueError:
        return None
