"""Dates the ICH schema's digit pattern lets through but no calendar has (30 February, hour 25,
month 13, an offset of +15:00), and a birth or death after the report: refused naming the E2B
element and its own line, on FDA's instances (no database)."""
from __future__ import annotations

import pytest

from pv_service.e2b import icsr, reader, timestamps
from pv_service.e2b.timestamps import calendar_error
from tests.e2b.conftest import SCENARIOS, fda


def message(data: bytes):
    return icsr.messages(reader.read(data, reader.BATCH_ROOT, 10**7))[0]


@pytest.mark.parametrize("ts", ["2014", "201402", "20140228", "20160229", "2014022823", "201402282359",
                                "20140228235960", "20140228235959.123", "20220614101010-0500",
                                "20141010123000+0800", "20141010+1400", "20141010-1200"])
def test_real_dates_at_every_precision_pass(ts):
    assert calendar_error(ts) is None


@pytest.mark.parametrize("ts,why", [
    ("201413", "month 13"), ("20140230", "day 30 does not exist in 2014-02 (it has 28 days)"),
    ("20150229", "day 29"), ("20140200", "day 00"), ("2014101025", "hour 25"),
    ("20141010236000", "minute 60"), ("20141010235961", "second 61"), ("20141010+1500", "offset +1500"),
    ("20141010-0575", "offset -0575"),
])
def test_impossible_dates_say_what_is_wrong(ts, why):
    assert why in calendar_error(ts)


def _with_value(data: bytes, line: int, value: str) -> bytes:
    """The @value on line `line` of the file replaced by `value`."""
    lines = data.split(b"\n")
    head, rest = lines[line - 1].split(b'value="', 1)
    lines[line - 1] = head + b'value="' + value.encode() + b'"' + rest.split(b'"', 1)[1]
    return b"\n".join(lines)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fda_instances_have_only_real_dates(scenario):
    assert timestamps.problems(message(fda(f"Scenario{scenario}.xml"))) == []


# FDA's Scenario 1, by the line of each date: (line, E2B element)
DATES = [(21, "N.2.r.4"), (42, "C.1.2"), (55, "C.1.4"), (58, "C.1.5"), (69, "D.2.1"), (145, "E.i.4"),
         (237, "E.i.4")]


@pytest.mark.parametrize("line,element", DATES)
@pytest.mark.parametrize("value,why", [("20140230", "day 30 does not exist in 2014-02"),
                                       ("20141310", "month 13"), ("20141010250000", "hour 25"),
                                       ("20141010+1500", "offset +1500")])
def test_an_impossible_date_is_named_by_its_element_and_its_own_line(line, element, value, why):
    problems = timestamps.problems(message(_with_value(fda("Scenario1.xml"), line, value)))
    assert [(p.element, p.line) for p in problems] == [(element, line)]
    assert f"date {element} '{value}' is not a calendar date: " in problems[0].reason and why in problems[0].reason


def test_a_birth_or_death_after_the_latest_information_or_a_death_before_the_birth_is_refused():
    data = fda("Scenario1.xml")  # C.1.5 is 20220614101010-0500, line 58
    problems = timestamps.problems(message(_with_value(data, 69, "21990101")))
    assert [(p.element, p.line) for p in problems] == [("D.2.1", 69)]
    assert problems[0].reason == ("the date of birth '21990101' is after the date of the most recent "
                                  "information (C.1.5 '20220614101010-0500')")
    assert timestamps.problems(message(_with_value(data, 69, "2022"))) == []  # the same year: may be earlier
    assert timestamps.problems(message(_with_value(data, 69, "20220615"))) == []  # a day: the time zone
    assert [p.element for p in timestamps.problems(message(_with_value(data, 69, "202207")))] == ["D.2.1"]
    died = data.replace(b'<birthTime value="20010615"/>',
                        b'<birthTime value="20010615"/><deceasedInd value="true"/><deceasedTime value="19990101"/>', 1)
    problems = timestamps.problems(message(died))
    assert [(p.element, p.line) for p in problems] == [("D.9.1", 69)]
    assert "before the date of birth" in problems[0].reason
    later = died.replace(b'<deceasedTime value="19990101"/>', b'<deceasedTime value="20230101"/>')
    assert [p.element for p in timestamps.problems(message(later))] == ["D.9.1"]
