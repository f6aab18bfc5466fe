"""Checking one message against the business rules of alerts/e2b_rules.yaml (pure)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import TYPE_CHECKING

from lxml import etree

from pv_service.e2b.ack import Problem
from pv_service.e2b.reader import RULE_NS

if TYPE_CHECKING:  # not imported at run time: pv_service.rules loads every rule model (a second of imports)
    from pv_service.rules.e2b_rules import E2BRule, E2BRules

_VALUE_ATTRS = ("value", "code", "extension")


@dataclass(frozen=True)
class Profile:
    receivers: tuple[str, ...]
    rules: tuple[SimpleNamespace, ...]  # each with every field of its E2BRule, whatever the model grows


@dataclass(frozen=True)
class RuleSet:
    """The rules of an E2BRules as plain records: what the reader process is sent (it does not import
    the rule models); `check` takes either."""
    profiles: dict[str, Profile]

    @classmethod
    def of(cls, rules: E2BRules) -> RuleSet:
        return cls({name: Profile(tuple(p.receivers), tuple(SimpleNamespace(**r.model_dump()) for r in p.rules))
                    for name, p in rules.profiles.items()})

    def for_receiver(self, receiver: str | None) -> list[str]:
        """As E2BRules.for_receiver: ich, and the regional profile its receiver names."""
        return ["ich", *[n for n, p in self.profiles.items() if receiver and receiver in p.receivers]]


@lru_cache(maxsize=1024)
def _xpath(expr: str) -> etree.XPath:
    # EXSLT regular expressions (re:) only where a rule uses them: lxml registers them on every call.
    return etree.XPath(expr, namespaces=RULE_NS, regexp="re:" in expr)


# A value keyed by a code among siblings (the seriousness criteria of each reaction, the observation
# events of the case): the siblings' codes are read once per context for all the rules that share them.
_KEYED = re.compile(r"(?P<items>h:\w+(?:/h:\w+)*)\[h:code/@code='(?P<code>[^']*)'\]/(?P<rest>h:\w+(?:/h:\w+)*(?:/@\w+)?)")


@lru_cache(maxsize=1024)
def _keyed(expr: str) -> tuple[str, str, str] | None:
    m = _KEYED.fullmatch(expr)
    return (m["items"], m["code"], m["rest"]) if m else None


def _by_code(ctx, items: str, cache: dict) -> dict[str, list]:
    """@code of each h:code of the elements `items` selects -> those elements, in document order."""
    found = cache.get((ctx, items))
    if found is None:
        found = cache[(ctx, items)] = {}
        for c in _xpath(items + "/h:code")(ctx):
            same, o = found.setdefault(c.get("code"), []), c.getparent()
            if not same or same[-1] is not o:
                same.append(o)
    return found


def _select(expr: str, ctx, cache: dict) -> list:
    """What the XPath `expr` selects from `ctx`. items[h:code/@code='K']/rest is the `rest` of each of the
    keyed items in document order (they are at one depth, so their subtrees do not overlap)."""
    keyed = _keyed(expr) if isinstance(ctx, etree._Element) else None
    if keyed is None:
        return _xpath(expr)(ctx)
    items, code, rest = keyed
    rest_xpath = _xpath(rest)
    return [node for o in _by_code(ctx, items, cache).get(code, ()) for node in rest_xpath(o)]


_ATTRIBUTE_STEP = re.compile(r"(?P<element>.+)/@\w+")


def _holder(expr: str, ctx, cache: dict):
    """For a rule whose value is an attribute (.../h:low/@value) that is missing: the element that
    would hold it, if it is there (often with a nullFlavor instead), else None."""
    m = _ATTRIBUTE_STEP.fullmatch(expr)
    if m is None:
        return None
    found = _select(m["element"], ctx, cache)
    return found[0] if found and isinstance(found[0], etree._Element) else None


def _present(node) -> tuple[bool, str | None]:
    """(has a value, its nullFlavor)."""
    if isinstance(node, str):  # an attribute or text() result
        return bool(node.strip()), None
    flavor = node.get("nullFlavor")
    if flavor:
        return False, flavor
    has = any(node.get(a) for a in _VALUE_ATTRS) or bool((node.text or "").strip()) or len(node) > 0
    return has, None


def _check_allowed(rule: E2BRule | SimpleNamespace, node, line: int | None, out: list[Problem]) -> None:
    value = node.strip() if isinstance(node, str) else next((node.get(a) for a in _VALUE_ATTRS if node.get(a)),
                                                            (node.text or "").strip())
    if value not in rule.allowed:
        where = node.sourceline if isinstance(node, etree._Element) else line
        out.append(Problem(f"{rule.message}: {value!r} is not one of {', '.join(rule.allowed)}", rule.element, where))


def _check_rule(message: etree._Element, rule: E2BRule | SimpleNamespace, contexts: dict) -> list[Problem]:
    out = []
    found_contexts = contexts.get(rule.context)
    if found_contexts is None:  # many rules share a context (each reaction, say): selected once per message
        found_contexts = contexts[rule.context] = _xpath(rule.context)(message)
    for ctx in found_contexts:
        line = ctx.sourceline if isinstance(ctx, etree._Element) else message.sourceline
        found = _select(rule.value, ctx, contexts)
        if not found:
            # the attribute is missing: named at the element that would hold it when that is there,
            # which may carry a nullFlavor in its place
            holder = _holder(rule.value, ctx, contexts)
            flavor = holder.get("nullFlavor") if holder is not None else None
            if flavor is None:
                out.append(Problem(f"required: {rule.message}", rule.element,
                                   holder.sourceline if holder is not None else line))
            elif flavor not in rule.null_flavors:
                allowed = ", ".join(rule.null_flavors) or "none"
                out.append(Problem(f"nullFlavor {flavor} is not allowed here (allowed: {allowed})", rule.element,
                                   holder.sourceline))
            continue
        node = found[0]
        has, flavor = _present(node)
        if has:
            if rule.allowed:
                _check_allowed(rule, node, line, out)
            continue
        where = node.sourceline if isinstance(node, etree._Element) else line
        if flavor is None:
            out.append(Problem(f"required: {rule.message} (empty)", rule.element, where))
        elif flavor not in rule.null_flavors:
            allowed = ", ".join(rule.null_flavors) or "none"
            out.append(Problem(f"nullFlavor {flavor} is not allowed here (allowed: {allowed})", rule.element, where))
    return out


def check(message: etree._Element, rules: E2BRules | RuleSet, receiver: str | None) -> list[Problem]:
    problems = []
    contexts: dict = {}  # context XPath -> its nodes; (node, items) -> _by_code
    for name in rules.for_receiver(receiver):
        for rule in rules.profiles[name].rules:
            problems.extend(_check_rule(message, rule, contexts))
    return problems
