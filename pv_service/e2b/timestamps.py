"""Every date of a message checked as a calendar date (pure).

The ICH schema's pattern for an HL7 TS only counts digits: 20140230 (30 February) and
20141010250000 (hour 25) pass it, and the reader would then drop the first and cut the
second to its day. Each is refused here, naming the E2B element and the line of its own
element, with the part that is wrong.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re

from lxml import etree

from pv_service.e2b.ack import Problem
from pv_service.e2b.reader import HL7

_H = "{%s}" % HL7
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?(?:([+-])(\d{2})(\d{2}))?")
# elements whose @value is a point in time (HL7 TS); low/high/center only inside a time interval
_POINTS = frozenset(_H + t for t in ("effectiveTime", "availabilityTime", "birthTime", "deceasedTime",
                                     "creationTime", "time"))
_BOUNDS = frozenset(_H + t for t in ("low", "high", "center"))
_INTERVALS = frozenset(_H + t for t in ("effectiveTime", "comp", "phase", "time"))
_PASS = _BOUNDS | _INTERVALS  # climbed over to the act a bound belongs to


def calendar_error(ts: str) -> str | None:
    """What is wrong with an HL7 TS as a date and time, or None (the schema checks the digits)."""
    m = _TS.fullmatch(ts)
    if m is None:
        return None  # not this check's: the schema's pattern refuses it
    year, month, day, hour, minute, second, sign, oh, om = m.groups()
    if month is not None and not 1 <= int(month) <= 12:
        return f"month {month} does not exist"
    if day is not None:
        last = calendar.monthrange(int(year), int(month))[1]
        if not 1 <= int(day) <= last:
            return f"day {day} does not exist in {year}-{month} (it has {last} days)"
    if hour is not None and int(hour) > 23:
        return f"hour {hour} does not exist"
    if minute is not None and int(minute) > 59:
        return f"minute {minute} does not exist"
    if second is not None and int(second) > 60:  # 60: a leap second
        return f"second {second} does not exist"
    if sign is not None and (int(oh) > 14 or int(om) > 59):
        return f"time zone offset {sign}{oh}{om} does not exist (UTC-12:00 to UTC+14:00)"
    return None


def _code(el) -> str | None:
    code = el.find(_H + "code")
    return code.get("code") if code is not None else None


def _in_parent(el) -> bool:
    """Inside D.10 (the parent of a parent-child report: a role of class PRS)."""
    return any(a.tag == _H + "role" and a.get("classCode") == "PRS" for a in el.iterancestors())


def element_id(el) -> str | None:
    """The E2B(R3) data element a date is (the implementation guide's numbering), or None."""
    tag, parent = el.tag, el.getparent()
    local = etree.QName(tag).localname
    if local == "creationTime":
        return "N.2.r.4" if parent is not None and etree.QName(parent).localname == "PORR_IN049016UV" else "N.1.5"
    if local == "availabilityTime":
        return "C.1.5"
    if local == "birthTime":
        return "D.10.2.1" if _in_parent(el) else "D.2.1"
    if local == "deceasedTime":
        return "D.9.1"
    if local == "effectiveTime" and parent is not None and etree.QName(parent).localname == "controlActProcess":
        return "C.1.2"
    end = local == "high"
    owner = parent if tag in _BOUNDS or local == "value" else el
    while owner is not None and owner.tag in _PASS:
        owner = owner.getparent()
    if owner is None:
        return None
    kind = etree.QName(owner).localname
    parent_case = _in_parent(owner)
    if kind == "investigationEvent":
        return "C.1.4"
    if kind == "substanceAdministration":
        organizer = owner.getparent().getparent() if owner.getparent() is not None else None
        group = _code(organizer) if organizer is not None else None
        if group == "4":
            return "G.k.4.r.5" if end else "G.k.4.r.4"
        if group == "2":
            return ("D.10.8.r.5" if end else "D.10.8.r.4") if parent_case else ("D.8.r.5" if end else "D.8.r.4")
        return None
    if kind == "observation":
        code = _code(owner)
        organizer = owner.getparent().getparent() if owner.getparent() is not None else None
        group = _code(organizer) if organizer is not None and etree.QName(organizer).localname == "organizer" else None
        if code == "29" and group is None:
            return "E.i.5" if end else "E.i.4"
        if group == "3":
            return "F.r.1"
        if group == "1":
            return ("D.10.7.1.r.4" if end else "D.10.7.1.r.2") if parent_case else ("D.7.1.r.4" if end else "D.7.1.r.2")
        if code == "22":
            return "D.10.3" if parent_case else "D.3"
    return None


def _is_point(el) -> bool:
    if el.tag in _POINTS:
        return True
    if el.tag in _BOUNDS:
        parent = el.getparent()
        return parent is not None and (parent.tag in _INTERVALS or "TS" in (parent.get(_XSI_TYPE) or ""))
    return el.tag == _H + "value" and (el.get(_XSI_TYPE) or "").endswith("TS")


def problems(message: etree._Element) -> list[Problem]:
    """Each date of the message (an element's @value of an HL7 TS type) that is no calendar date,
    and the dates no case can have: a birth or a death after the most recent information (C.1.5:
    what the sender knew then), a death before the birth. (Not C.1.2: FDA's own instances were
    created in 2014 about reactions of October 2014.)"""
    out, found = [], {}
    for el in message.iter(etree.Element):
        ts = el.get("value")
        if ts is None or not _is_point(el):
            continue
        name = element_id(el)
        wrong = calendar_error(ts)
        if wrong is not None:
            what = f"date {name}" if name else f"date ({etree.QName(el).localname})"
            out.append(Problem(f"{what} {ts!r} is not a calendar date: {wrong}", name, el.sourceline))
        elif name in ("C.1.5", "D.2.1", "D.9.1"):
            found.setdefault(name, (ts, el.sourceline))
    latest, birth, death = (found.get(k) for k in ("C.1.5", "D.2.1", "D.9.1"))
    for name, when, what in (("D.2.1", birth, "date of birth"), ("D.9.1", death, "date of death")):
        if when and latest and _after(when[0], latest[0]):
            out.append(Problem(f"the {what} {when[0]!r} is after the date of the most recent information "
                               f"(C.1.5 {latest[0]!r})", name, when[1]))
    if birth and death and _after(birth[0], death[0]):
        out.append(Problem(f"the date of death {death[0]!r} is before the date of birth (D.2.1 {birth[0]!r})",
                           "D.9.1", death[1]))
    return out


def _after(a: str, b: str) -> bool:
    """Whether TS a is surely later than TS b: by the calendar days both give (a day's time and
    time zone may move it by one), to the precision the shorter has."""
    n = min(len(a), len(b), 8)
    da, db = a[:n], b[:n]
    if n < 8:
        return da > db
    return (dt.date(int(da[:4]), int(da[4:6]), int(da[6:8])) - dt.date(int(db[:4]), int(db[4:6]), int(db[6:8]))).days > 1
