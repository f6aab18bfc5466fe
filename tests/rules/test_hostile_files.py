"""Hostile or broken rule files are refused quickly, with the file (and line) named, never a crash."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from pv_service.rules import RulesError, load_rules
from pv_service.rules.marked_yaml import MAX_EXPANDED_NODES, YamlProblem, load_marked

ALERTS = Path(__file__).resolve().parents[2] / "alerts"


@pytest.fixture
def alerts_copy(tmp_path, monkeypatch):
    d = tmp_path / "alerts"
    shutil.copytree(ALERTS, d)
    monkeypatch.chdir(tmp_path)
    return d


def _refused(directory) -> str:
    with pytest.raises(RulesError) as exc:
        load_rules(directory)
    return str(exc.value)


def _append(path: Path, text: str) -> int:
    """Append lines; the 1-based number of the first appended line."""
    body = path.read_bytes()
    if not body.endswith(b"\n"):
        body += b"\n"
    path.write_bytes(body + text.encode())
    return body.count(b"\n") + 1


def test_invalid_utf8_names_file_line_and_column(alerts_copy):
    path = alerts_copy / "signal_rules.yaml"
    lines = path.read_bytes().split(b"\n")
    lines[3] = b"# caf\xe9 au lait"  # Latin-1, not UTF-8
    path.write_bytes(b"\n".join(lines))
    assert _refused(alerts_copy) == "alerts/signal_rules.yaml:4:6: not valid UTF-8 (byte 0xe9)"


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "1" + "0" * 30])
def test_huge_integers_are_refused_naming_file_and_line(alerts_copy, number):
    path = alerts_copy / "signal_rules.yaml"
    text = path.read_text().replace("min_count: 3", f"min_count: {number}")
    path.write_text(text)
    line = text.splitlines().index(f"min_count: {number}") + 1
    message = _refused(alerts_copy)
    assert message.startswith(f"alerts/signal_rules.yaml:{line}:12: min_count: number too large"), message[:200]
    assert len(message) < 200


def test_alias_bomb_is_refused_at_once(alerts_copy):
    bomb = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    first = _append(alerts_copy / "signal_rules.yaml", "\n".join(bomb) + "\n")
    started = time.monotonic()
    message = _refused(alerts_copy)
    assert time.monotonic() - started < 2
    assert message.startswith("alerts/signal_rules.yaml:"), message
    assert f"more than {MAX_EXPANDED_NODES} values" in message
    assert int(message.split(":")[1]) >= first  # points into the bomb, not at the top of the file


def test_merge_key_bomb_is_refused_at_once():
    lines = ["m0: &m0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8, k8: 9, k9: 10}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 9)]
    started = time.monotonic()
    with pytest.raises(YamlProblem, match="more than"):
        load_marked("\n".join(lines))
    assert time.monotonic() - started < 2


def test_the_shipped_aliases_still_load():
    assert load_rules(ALERTS).followup.plans  # followup_plans.yaml shares assessment lists with &/*


def test_oversized_and_unreadable_files(alerts_copy):
    path = alerts_copy / "deadlines.yaml"
    _append(path, "#" + "x" * (2 * 1024 * 1024) + "\n")
    assert _refused(alerts_copy) == "alerts/deadlines.yaml: file is larger than 1 MiB"
    path.unlink()
    path.mkdir()  # a directory where the file should be
    assert "alerts/deadlines.yaml" in _refused(alerts_copy)


@pytest.mark.parametrize("entry,expected", [
    ("  - name: By name\n    modalities: [car_t]\n    terms: [T-cell lymphoma]\n",
     "designated_medical_events[4]: terms by name are no longer read"),
    ("  - name: Bad code\n    modalities: [car_t]\n    pt_codes: ['1234']\n",
     "designated_medical_events[4].pt_codes[0]: String should match pattern"),
    ("  - name: Empty\n    modalities: [car_t]\n",
     "designated_medical_events[4]: group 'Empty' names no pt_codes, hlt_codes or smqs"),
    ("  - name: Bad scope\n    modalities: [car_t]\n    smqs: [{code: '90000001', scope: wide}]\n",
     "designated_medical_events[4].smqs[0].scope: Input should be 'narrow' or 'broad'"),
])
def test_designated_medical_event_groups_are_codes_checked_with_file_and_line(alerts_copy, entry, expected):
    line = _append(alerts_copy / "signal_rules.yaml", entry)
    message = _refused(alerts_copy)
    assert f"alerts/signal_rules.yaml:{line}" in message or f"alerts/signal_rules.yaml:{line + 1}" in message \
        or f"alerts/signal_rules.yaml:{line + 2}" in message, message
    assert expected in message, message


@pytest.mark.parametrize("entry,expected", [
    ("  - name: By name\n    modalities: [car_t]\n    terms: [Pyrexia]\n",
     "adverse_events_of_special_interest[0]: terms by name are no longer read"),
    ("  - name: Bad code\n    modalities: [car_t]\n    pt_codes: [Pyrexia]\n",
     "adverse_events_of_special_interest[0].pt_codes[0]: String should match pattern"),
    ("  - name: Empty\n    modalities: [car_t]\n",
     "adverse_events_of_special_interest[0]: group 'Empty' names no pt_codes, hlt_codes or smqs"),
])
def test_special_interest_groups_share_the_coded_model(alerts_copy, entry, expected):
    path = alerts_copy / "analytics.yaml"
    head, sep, tail = path.read_text().partition("adverse_events_of_special_interest:\n")
    path.write_text(head + sep + entry + tail)
    line = head.count("\n") + 2
    message = _refused(alerts_copy)
    assert any(f"alerts/analytics.yaml:{n}" in message for n in (line, line + 1, line + 2)), message
    assert expected in message, message


@pytest.mark.parametrize("levels,expected", [
    ("[pt, hlt, hlt]", "levels[2]: level 'hlt' is listed twice"),
    ("[pt, {level: smq, paths: all}]", "levels[1].paths: paths applies to hlt, hlgt and soc, not smq"),
    ("[pt, {level: soc, scope: broad}]", "levels[1].scope: scope applies to smq, not soc"),
    ("[hlt]", "levels: must include pt"),
    ("[pt, llt]", "levels[1]: Input should be 'pt', 'hlt', 'hlgt', 'soc' or 'smq'"),
])
def test_levels_are_checked_with_file_and_line(alerts_copy, levels, expected):
    path = alerts_copy / "signal_rules.yaml"
    text = path.read_text()
    start = text.index("levels:\n")
    end = text.index("\n\n", start)
    path.write_text(text[:start] + f"levels: {levels}" + text[end:])
    line = text[:start].count("\n") + 1
    message = _refused(alerts_copy)
    assert message.count("alerts/signal_rules.yaml:") == 1 and f"alerts/signal_rules.yaml:{line}:" in message, message
    assert expected in message, message
