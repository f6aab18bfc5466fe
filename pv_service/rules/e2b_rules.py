"""Model of ``alerts/e2b_rules.yaml``: ICH E2B(R3) business rules and regional rules, as XPaths
over each PORR_IN049016UV message (the schema says what may appear; these say what must)."""
from __future__ import annotations

from pydantic import Field
from lxml import etree

from pv_service.e2b.reader import RULE_NS as NAMESPACES
from pv_service.rules.common import Issue, RuleModel

NULL_FLAVORS = {"NI", "UNK", "ASKU", "NASK", "MSK", "NA", "NINF", "PINF", "OTH", "NAV", "QS", "TRC"}


class E2BRule(RuleModel):
    element: str = Field(min_length=1)  # the E2B data element, e.g. C.1.1
    context: str = "."  # where the rule applies, from the message: every node it selects
    value: str = Field(min_length=1)  # relative to each context node: what must be there
    null_flavors: tuple[str, ...] = ()  # nullFlavors accepted in place of a value
    allowed: tuple[str, ...] = ()  # when given, the value must be one of these codes
    message: str = Field(min_length=1)


class E2BProfile(RuleModel):
    basis: str = Field(min_length=1)
    # N.2.r.3 message receivers that select this (regional) profile; the ich profile applies to all.
    receivers: tuple[str, ...] = ()
    rules: tuple[E2BRule, ...] = Field(min_length=1)


class E2BRules(RuleModel):
    profiles: dict[str, E2BProfile]

    def issues(self) -> list[Issue]:
        out: list[Issue] = []
        if "ich" not in self.profiles:
            out.append((("profiles",), "an 'ich' profile (the rules every message meets) is required"))
        for name, profile in self.profiles.items():
            if name == "ich" and profile.receivers:
                out.append((("profiles", name, "receivers"), "the ich profile applies to every message: no receivers"))
            for i, rule in enumerate(profile.rules):
                for key in ("context", "value"):
                    try:
                        etree.XPath(getattr(rule, key), namespaces=NAMESPACES)
                    except etree.XPathSyntaxError as exc:
                        out.append((("profiles", name, "rules", i, key), f"not an XPath: {exc}"))
                unknown = sorted(set(rule.null_flavors) - NULL_FLAVORS)
                if unknown:
                    out.append((("profiles", name, "rules", i, "null_flavors"),
                                f"unknown nullFlavor {', '.join(unknown)} (HL7: {', '.join(sorted(NULL_FLAVORS))})"))
        seen: dict[str, str] = {}
        for name, profile in self.profiles.items():
            for j, r in enumerate(profile.receivers):
                if r in seen:
                    out.append((("profiles", name, "receivers", j), f"{r} already selects profile {seen[r]}"))
                seen[r] = name
        return out

    def for_receiver(self, receiver: str | None) -> list[str]:
        """The profiles a message to `receiver` meets: ich, and the regional one its receiver names."""
        return ["ich", *[n for n, p in self.profiles.items() if receiver and receiver in p.receivers]]
