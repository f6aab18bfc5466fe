"""Regulatory citations: FDA post-marketing safety reporting for licensed biologics (CAR-T,
stem-cell products) is 21 CFR 600.80; 21 CFR 314.80 is the rule for drugs under an NDA and
must not be cited for them (PRIMER section 2)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pv_service.rules import load_rules
from tests.conftest import RULES_FIXTURE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rules_dir", [ROOT / "alerts", RULES_FIXTURE], ids=["shipped", "fixture"])
def test_fda_reporting_clocks_cite_600_80(rules_dir):
    fda = load_rules(rules_dir).reporting_clocks.jurisdictions["FDA"]
    assert fda.basis.startswith("21 CFR 600.80"), fda.basis
    assert fda.clocks and all(c.basis.startswith("21 CFR 600.80") for c in fda.clocks), [c.basis for c in fda.clocks]


# Every place a citation can reach a user: rules, code and templates, docs, the README.
_CITING = ["alerts", "pv_service", "docs", "schemas", "README.md", "tests/rules/fixture_alerts"]
_TEXT = {".py", ".yaml", ".yml", ".html", ".md", ".json", ".csv", ".txt", ".j2"}


def test_no_drug_rule_cited_anywhere():
    wrong = re.compile(r"314\.8\d")
    found = []
    for name in _CITING:
        p = ROOT / name
        for f in [p] if p.is_file() else sorted(p.rglob("*")):
            if f.is_file() and f.suffix in _TEXT and wrong.search(f.read_text(encoding="utf-8", errors="replace")):
                found.append(str(f.relative_to(ROOT)))
    assert not found, f"21 CFR 314.8x cited (use 600.80 for biologics): {found}"
