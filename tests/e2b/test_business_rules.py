"""alerts/e2b_rules.yaml on real messages: every FDA instance passes ICH and FDA rules; a missing
element or a nullFlavor the rule does not allow is named with its line (no database)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pv_service.e2b import business_rules, icsr, reader
from pv_service.rules import load_rules
from pv_service.rules.loader import RulesError
from tests.e2b.conftest import SCENARIOS, fda

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules(ROOT / "alerts").e2b


def message(data: bytes):
    return icsr.messages(reader.read(data, reader.BATCH_ROOT, 10**7))[0]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fda_instances_meet_ich_and_fda_rules(scenario):
    el = message(fda(f"Scenario{scenario}.xml"))
    receiver = icsr.parse_message(el).message_receiver
    assert RULES.for_receiver(receiver) == ["ich", "fda"]
    assert business_rules.check(el, RULES, receiver) == []


def test_missing_narrative_and_forbidden_null_flavor():
    data = fda("Scenario1.xml")
    data = data.replace(b"<text>Case Narrative Including Clinical Course, Therapeutic Measures, Outcome and "
                        b"Additional Relevant Information </text>", b"", 1)
    data = data.replace(b'<value xsi:type="BL" value="false"/>', b'<value xsi:type="BL" nullFlavor="UNK"/>', 1)
    line = data[:data.index(b'nullFlavor="UNK"')].count(b"\n") + 1
    problems = business_rules.check(message(data), RULES, "CDER")
    assert [(p.element, p.reason) for p in problems] == [
        ("C.1.6.1", "nullFlavor UNK is not allowed here (allowed: none)"),
        ("H.1", "required: case narrative"),
    ]
    assert problems[0].line == line


def test_regional_rule_only_for_its_receiver():
    data = fda("Scenario1.xml").replace(b'code="C54588"', b'code="C00000"')
    el = message(data)
    assert [p.element for p in business_rules.check(el, RULES, "CDER")] == ["FDA.C.1.7.1"]
    assert business_rules.check(el, RULES, "EMA") == []


def test_nmpa_lot_of_each_suspect_product():
    # Scenario 1: Drug A (suspect) carries lot UNKNOWN; Drug B (suspect) has no dosage, so no lot.
    problems = business_rules.check(message(fda("Scenario1.xml")), RULES, "NMPA")
    assert [(p.element, p.reason) for p in problems] == [("G.k.4.r.7", "required: batch/lot number of each suspect product")]


def test_bad_xpath_in_rules_is_named_with_file_and_line(tmp_path):
    for f in (ROOT / "alerts").glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    text = (tmp_path / "e2b_rules.yaml").read_text().replace('value: "h:controlActProcess/h:effectiveTime/@value"',
                                                             'value: "h:controlActProcess/[@value"', 1)
    (tmp_path / "e2b_rules.yaml").write_text(text)
    line = text[:text.index("[@value")].count("\n") + 1
    with pytest.raises(RulesError) as exc:
        load_rules(tmp_path)
    assert f"e2b_rules.yaml:{line}:" in str(exc.value) and "not an XPath" in str(exc.value)


def test_a_value_missing_from_its_element_is_named_at_that_elements_line():
    """C.1.5 sent as a nullFlavor, a reaction's code as a nullFlavor, a reaction's MedDRA version left
    out: each is named at the line of its own element (they were named at the message's or the
    reaction's first line), and a nullFlavor the rule does not allow is called so."""
    data = fda("Scenario1.xml")
    data = data.replace(b'<availabilityTime value="20220614101010-0500"/>', b'<availabilityTime nullFlavor="NI"/>', 1)
    data = data.replace(b'<value xsi:type="CE" code="10027940" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="25.0"/>',
                        b'<value xsi:type="CE" nullFlavor="UNK"/>', 1)
    data = data.replace(b'code="10009896" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="25.0"/>',
                        b'code="10009896" codeSystem="2.16.840.1.113883.6.163"/>', 1)

    def line_of(marker: bytes) -> int:
        return data[:data.index(marker)].count(b"\n") + 1
    problems = business_rules.check(message(data), RULES, "CDER")
    assert [(p.element, p.line, p.reason) for p in problems] == [
        ("C.1.5", line_of(b'<availabilityTime nullFlavor="NI"/>'), "nullFlavor NI is not allowed here (allowed: none)"),
        ("E.i.2.1a", line_of(b'<value xsi:type="CE" nullFlavor="UNK"/>'),
         "nullFlavor UNK is not allowed here (allowed: none)"),
        ("E.i.2.1a", line_of(b'code="10009896" codeSystem="2.16.840.1.113883.6.163"/>'),
         "required: MedDRA version of the reaction"),
        ("E.i.2.1b", line_of(b'<value xsi:type="CE" nullFlavor="UNK"/>'),
         "nullFlavor UNK is not allowed here (allowed: none)"),
    ]
