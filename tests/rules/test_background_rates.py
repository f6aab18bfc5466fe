"""The shipped background rates: every entry names a group the rules define, and the loader refuses
a group that is given both a rate and a reason for having none."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pv_service.rules import load_rules
from pv_service.rules.loader import RulesError

ALERTS = Path(__file__).resolve().parents[2] / "alerts"


def test_every_background_entry_names_a_defined_group():
    rules = load_rules(ALERTS)
    defined = ({g.name for g in rules.signals.designated_medical_events}
               | {g.name for g in rules.analytics.adverse_events_of_special_interest})
    bg = rules.background_rates
    named = [r.group for r in bg.rates] + [r.group for r in bg.without_background]
    assert named and not set(named) - defined, sorted(set(named) - defined)


def test_a_group_with_a_rate_and_a_reason_is_refused(tmp_path):
    alerts = tmp_path / "alerts"
    shutil.copytree(ALERTS, alerts)
    path = alerts / "background_rates.yaml"
    path.write_text(path.read_text() + "  - group: T-cell malignancies\n    reason: contradicts its own rate above\n")
    with pytest.raises(RulesError) as err:
        load_rules(alerts)
    assert "background_rates.yaml:" in str(err.value) and "also has a rate under rates" in str(err.value)
