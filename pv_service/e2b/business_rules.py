"""Checking one message against the business rules of alerts/e2b_rules.yaml (pure)."""
from __future__ import annotations

from functools import lru_cache

from lxml import etree

from pv_service.e2b.ack import Problem
from pv_service.rules.e2b_rules import NAMESPACES, E2BRule, E2BRules

_VALUE_ATTRS = ("value", "code", "extension")


@lru_cache(maxsize=1024)
def _xpath(expr: str) -> etree.XPath:
    return etree.XPath(expr, namespaces=NAMESPACES)


def _present(node) -> tuple[bool, str | None]:
    """(has a value, its nullFlavor)."""
    if isinstance(node, str):  # an attribute or text() result
        return bool(node.strip()), None
    flavor = node.get("nullFlavor")
    if flavor:
        return False, flavor
    has = any(node.get(a) for a in _VALUE_ATTRS) or bool((node.text or "").strip()) or len(node) > 0
    return has, None


def _check_allowed(rule: E2BRule, node, line: int | None, out: list[Problem]) -> None:
    value = node.strip() if isinstance(node, str) else next((node.get(a) for a in _VALUE_ATTRS if node.get(a)),
                                                            (node.text or "").strip())
    if value not in rule.allowed:
        where = node.sourceline if isinstance(node, etree._Element) else line
        out.append(Problem(f"{rule.message}: {value!r} is not one of {', '.join(rule.allowed)}", rule.element, where))


def _check_rule(message: etree._Element, rule: E2BRule, contexts: dict[str, list]) -> list[Problem]:
    out = []
    found_contexts = contexts.get(rule.context)
    if found_contexts is None:  # many rules share a context (each reaction, say): selected once per message
        found_contexts = contexts[rule.context] = _xpath(rule.context)(message)
    for ctx in found_contexts:
        line = ctx.sourceline if isinstance(ctx, etree._Element) else message.sourceline
        found = _xpath(rule.value)(ctx)
        if not found:
            out.append(Problem(f"required: {rule.message}", rule.element, line))
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


def check(message: etree._Element, rules: E2BRules, receiver: str | None) -> list[Problem]:
    problems = []
    contexts: dict[str, list] = {}
    for name in rules.for_receiver(receiver):
        for rule in rules.profiles[name].rules:
            problems.extend(_check_rule(message, rule, contexts))
    return problems
