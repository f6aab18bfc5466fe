"""The ICSR read and the business rules select coded siblings once and pick from them by code: each
pick must be what the XPath predicate it stands for selects (libxml2's XPath as the reference), on
FDA's instances and on variants with the odd shapes the schema still allows (a second h:code in
another code system, elements missing, repeated)."""
from __future__ import annotations

import copy

import pytest
from lxml import etree

from pv_service.e2b import business_rules, icsr
from pv_service.e2b.reader import NS
from tests.e2b.conftest import SCENARIOS, fda

H = f"{{{NS['h']}}}"
CONTAINERS = (  # (path to the node from the message, items under it)
    ("h:controlActProcess/h:subject/h:investigationEvent", "h:component/h:observationEvent"),
    ("h:controlActProcess/h:subject/h:investigationEvent", "h:subjectOf2/h:investigationCharacteristic"),
    ("h:controlActProcess/h:subject/h:investigationEvent/h:component/h:adverseEventAssessment",
     "h:component/h:causalityAssessment"),
    ("h:controlActProcess/h:subject/h:investigationEvent/h:component/h:adverseEventAssessment",
     "h:component1/h:observationEvent"),
    ("//h:primaryRole", "h:subjectOf2/h:observation"),
    ("//h:primaryRole", "h:subjectOf2/h:organizer"),
    ("//h:primaryRole/h:subjectOf2/h:observation", "h:outboundRelationship2/h:observation"),
    ("//h:substanceAdministration", "h:outboundRelationship2/h:observation"),
)


def _xpath(node, path: str) -> list:
    return etree.XPath(path, namespaces=NS)(node)


def _variants(message) -> list:
    """The message; with every h:code split in two (the code on one, the code system on the other);
    with every third element repeated and some h:value removed."""
    out = [message]
    split = copy.deepcopy(message)
    for code in list(split.iter(f"{H}code")):
        other = copy.deepcopy(code)
        other.set("code", "other")
        code.attrib.pop("codeSystem", None)
        code.addnext(other)
    out.append(split)
    odd = copy.deepcopy(message)
    for i, el in enumerate(list(odd.iter(etree.Element))):
        if el.getparent() is None:
            continue
        if i % 3 == 0:
            el.addnext(copy.deepcopy(el))
        elif el.tag == f"{H}value" and i % 2:
            el.getparent().remove(el)
    out.append(odd)
    return out


def _messages() -> list:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    return [v for name in SCENARIOS for m in icsr.messages(etree.ElementTree(etree.fromstring(
        fda(f"Scenario{name}.xml"), parser))) for v in _variants(m)]


@pytest.fixture(scope="module")
def messages():
    return _messages()


def test_picks_by_code_are_the_xpath_predicates(messages):
    checked = 0
    for message in messages:
        for where, items in CONTAINERS:
            for node in _xpath(message, where):
                found, values = icsr._coded_items(node, items), icsr._values(node, items)
                assert [o for o, _ in found] == _xpath(node, f"{items}[h:code]")
                codes = {c for _, pairs in found for c, _ in pairs if c and "'" not in c}
                systems = {s for _, pairs in found for _, s in pairs if s and "'" not in s}
                for code, system in ((c, s) for c in codes for s in systems):
                    strict = f"{items}[h:code[@code='{code}' and @codeSystem='{system}']]"
                    loose = f"{items}[h:code/@code='{code}' and h:code/@codeSystem='{system}']"
                    assert icsr._strict(found, code, system) == _xpath(node, strict)
                    assert icsr._pick(found, code, system) == _xpath(node, loose)
                    assert icsr._pick(found, code) == _xpath(node, f"{items}[h:code/@code='{code}']")
                    first = _xpath(node, f"{loose}/h:value")
                    assert icsr._first(icsr._pick(found, code, system), values) is (first[0] if first else None)
                    checked += 1
    assert checked > 1000


def test_dosage_descendants_are_the_first_of_each_path(messages):
    paths = icsr._DOSAGE_DESCENDANTS.split(" | ")
    checked = 0
    for message in messages:
        for sa in _xpath(message, "//h:substanceAdministration/h:outboundRelationship2/h:substanceAdministration"):
            first = icsr._dosage_descendants(sa)
            for path in paths:
                found = _xpath(sa, path)
                last, parent = path.split("/")[-1][2:], path.split("/")[-2].lstrip(".")[2:]
                key = (f"{H}{parent}", f"{H}{last}") if last in ("low", "high") else f"{H}{last}"
                assert first.get(key) is (found[0] if found else None), path
                checked += bool(found)
    assert checked > 20


def test_rule_values_are_the_xpath(messages, e2b_rules):
    rules = [r for p in e2b_rules.profiles.values() for r in p.rules]
    assert sum(business_rules._keyed(r.value) is not None for r in rules) >= 7  # the shortcut is taken
    checked = 0
    for message in messages:
        cache: dict = {}
        for rule in rules:
            for ctx in _xpath(message, rule.context):
                assert business_rules._select(rule.value, ctx, cache) == _xpath(ctx, rule.value), rule.element
                checked += 1
    assert checked > 500


def test_keyed_shortcut_keeps_document_order_over_several_items():
    """Two reactions' criteria under one context, codes repeated and out of order: the values come
    in document order, as the XPath gives them."""
    xml = f"""<r xmlns="{NS['h']}">
      <outboundRelationship2><observation><code code="34"/><value n="1"/></observation></outboundRelationship2>
      <outboundRelationship2><observation><code code="21"/><value n="2"/></observation>
        <observation><code code="34"/><code code="34"/><value n="3"/><value n="4"/></observation></outboundRelationship2>
      <outboundRelationship2><observation><code code="x"/><code code="34"/><value n="5"/></observation></outboundRelationship2>
    </r>"""
    root = etree.fromstring(xml)
    expr = "h:outboundRelationship2/h:observation[h:code/@code='34']/h:value"
    got = business_rules._select(expr, root, {})
    assert [v.get("n") for v in got] == ["1", "3", "4", "5"] == [v.get("n") for v in _xpath(root, expr)]
    assert business_rules._select(expr.replace("'34'", "'21'") + "/@n", root, {}) == ["2"]
