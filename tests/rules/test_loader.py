"""Rule files: the shipped alerts/ load and encode the primer's defaults; broken files
give errors naming file, line, column, location and problem."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pv_service.rules import RulesError, load_rules
from tests.conftest import RULES_FIXTURE

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
FIXTURE = RULES_FIXTURE


def test_shipped_rules_load_and_match_the_primer():
    rules = load_rules(ALERTS)
    fr = rules.followup
    car_t = fr.plans[fr.plan_for("car_t")]
    assert [tp.label for tp in car_t.timepoints] == ["D28", "M3", "M6", "M12"] + [f"Y{n}" for n in range(2, 16)]
    assert car_t.duration.lifelong and car_t.lifelong_contact is not None
    assert car_t.first_lifelong_year == 16
    assert (car_t.timepoints[0].before, car_t.timepoints[0].after) == (7, 7)
    assert all(tp.window_days == 30 for tp in car_t.timepoints[4:])
    msc = fr.plans[fr.plan_for("stem_cell")]
    assert [tp.label for tp in msc.timepoints] == ["M1", "M3", "M6", "M12", "Y2", "Y3", "Y4", "Y5"]
    assert msc.duration.years == 5 and not msc.duration.lifelong
    assert car_t.lost_to_follow_up.consecutive_missed == 2
    assert car_t.lost_to_follow_up.no_contact_months == 24
    assert rules.deadlines.jurisdictions["NMPA"].in_principle_deadline.months == 48
    assert rules.deadlines.horizons_desc == (365, 180, 90, 30)
    rc = rules.reporting_clocks
    assert rc.immediately_days == 1
    nmpa = [(c.when, rc.clock_days(c)) for c in rc.jurisdictions["NMPA"].clocks]
    assert nmpa == [(("death",), 1), (("serious",), 15), (("unexpected",), 15), (("any",), 30)]
    assert [(c.when, c.days) for c in rc.jurisdictions["FDA"].clocks] == [(("serious", "unexpected"), 15)]
    assert [(c.when, c.days) for c in rc.jurisdictions["EMA"].clocks] == [(("serious",), 15), (("any",), 90)]
    assert rc.study_cases == "ICH_E2A"
    assert len(rules.fingerprint) == 64


def test_fixture_is_the_shipped_rules_plus_test_plans():
    shipped, fixture = load_rules(ALERTS).followup, load_rules(FIXTURE).followup
    for name, plan in shipped.plans.items():
        assert fixture.plans[name] == plan, f"fixture copy of {name} drifted from alerts/"


@pytest.fixture
def alerts_copy(tmp_path, monkeypatch):
    d = tmp_path / "alerts"
    shutil.copytree(ALERTS, d)
    monkeypatch.chdir(tmp_path)  # so messages show the relative path "alerts/..."
    return d


def _replace_line(path: Path, old: str, new: str) -> int:
    """Replace the first line containing ``old``; return its 1-based line number."""
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if old in line:
            lines[i] = line.replace(old, new)
            path.write_text("".join(lines))
            return i + 1
    raise AssertionError(f"{old!r} not in {path}")


def _error(directory) -> RulesError:
    with pytest.raises(RulesError) as exc:
        load_rules(directory)
    return exc.value


def test_negative_window_names_file_line_and_path(alerts_copy):
    line = _replace_line(alerts_copy / "followup_plans.yaml",
                         "{label: M12, offset: 12 months, window_days: 30, assessments: *car_t_exam}",
                         "{label: M12, offset: 12 months, window_days: -7, assessments: *car_t_exam}")
    err = _error(alerts_copy)
    assert len(err.issues) == 1
    issue = err.issues[0]
    assert (issue.file, issue.line) == ("alerts/followup_plans.yaml", line)
    text = (alerts_copy / "followup_plans.yaml").read_text().splitlines()[line - 1]
    assert issue.column == text.index("-7") + 1
    assert str(issue) == (f"alerts/followup_plans.yaml:{line}:{issue.column}: "
                          "plans.car_t_lifelong.timepoints[3].window_days: must be >= 0 (got -7)")


def test_several_problems_in_several_files_are_reported_together(alerts_copy):
    l1 = _replace_line(alerts_copy / "reporting_clocks.yaml", "immediately_days: 1", "immediately_days: soon")
    l2 = _replace_line(alerts_copy / "deadlines.yaml", "in_principle_deadline: 4 years", "in_principle_deadline: 4 yrs")
    l3 = _replace_line(alerts_copy / "followup_plans.yaml", "    grace_days: 60", "    grace_dayz: 60")
    err = _error(alerts_copy)
    msgs = sorted(str(i) for i in err.issues)
    assert any(m.startswith(f"alerts/reporting_clocks.yaml:{l1}:") and "immediately_days: must be a whole number" in m for m in msgs)
    assert any(m.startswith(f"alerts/deadlines.yaml:{l2}:") and "jurisdictions.NMPA.in_principle_deadline" in m
               and "'4 yrs'" in m for m in msgs)
    # unknown key: points at the key; and the missing one is reported on the plan
    assert any(m.startswith(f"alerts/followup_plans.yaml:{l3}:5: plans.car_t_lifelong.grace_dayz: unknown field") for m in msgs)
    assert any("plans.car_t_lifelong.grace_days: required field is missing" in m for m in msgs)


def test_overlapping_windows(alerts_copy):
    # M3 +-7 and M6 +-14 leave a gap; widen M6's window to 90 days and it overlaps M3 (M3 closes on day 96-99, M6 opens on day 91-94)
    line = _replace_line(alerts_copy / "followup_plans.yaml",
                         "{label: M6, offset: 6 months, window_days: 14, grace_days: 30, assessments: *car_t_exam}",
                         "{label: M6, offset: 6 months, window_days: 90, grace_days: 30, assessments: *car_t_exam}")
    err = _error(alerts_copy)
    assert len(err.issues) == 1
    assert err.issues[0].line == line
    assert "plans.car_t_lifelong.timepoints[2]: window of M6 overlaps the window of M3" in str(err)


def test_semantic_errors(alerts_copy):
    p = alerts_copy / "followup_plans.yaml"
    l1 = _replace_line(p, "  stem_cell: stem_cell_5y", "  stem_cell: stem_cell_10y")
    l2 = _replace_line(p, "  tcr_t: car_t_lifelong", "  tcr-t: car_t_lifelong")
    err = _error(alerts_copy)
    msgs = [str(i) for i in err.issues]
    assert f"alerts/followup_plans.yaml:{l1}:14: modality_defaults.stem_cell: unknown plan 'stem_cell_10y'" in msgs[0] + msgs[1]
    assert any(m.startswith(f"alerts/followup_plans.yaml:{l2}:") and "unknown modality 'tcr-t'" in m for m in msgs)


def test_yaml_syntax_error_and_duplicate_key(alerts_copy):
    p = alerts_copy / "deadlines.yaml"
    line = _replace_line(p, "warning_horizons_days: [365, 180, 90, 30]", "warning_horizons_days: [365, 180, 90, 30")
    err = _error(alerts_copy)
    assert err.issues[0].file == "alerts/deadlines.yaml"
    assert "YAML syntax" in err.issues[0].message
    assert err.issues[0].line >= line
    shutil.copy(ALERTS / "deadlines.yaml", p)
    text = p.read_text()
    p.write_text(text + "\nwarning_horizons_days: [10]\n")
    err = _error(alerts_copy)
    n_lines = len(text.splitlines())
    assert str(err.issues[0]).startswith(f"alerts/deadlines.yaml:{n_lines + 2}:1: warning_horizons_days: duplicate key")


def test_unknown_and_missing_files(alerts_copy):
    (alerts_copy / "signal_thresholds.yaml").write_text("prr: 2\n")
    (alerts_copy / "README.md").write_text("ignored\n")
    (alerts_copy / ".followup_plans.yaml.swp").write_text("ignored\n")
    (alerts_copy / "reporting_clocks.yaml").unlink()
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert ("alerts/signal_thresholds.yaml: unknown rule file; expected one of "
            "['analytics.yaml', 'background_rates.yaml', 'deadlines.yaml', 'duplicates.yaml', 'e2b_rules.yaml', "
            "'followup_plans.yaml', 'meddra_coding.yaml', 'reporting_clocks.yaml', 'signal_rules.yaml', "
            "'signal_timelines.yaml']") in msgs
    assert "alerts/reporting_clocks.yaml: required rule file is missing" in msgs
    assert len(msgs) == 2


def test_lifelong_plan_needs_lifelong_contact(alerts_copy):
    p = alerts_copy / "followup_plans.yaml"
    text = p.read_text()
    start = text.index("    lifelong_contact:")
    end = text.index("\n\n", start)
    p.write_text(text[:start] + text[end + 1:])
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert any("plans.car_t_lifelong.lifelong_contact: a lifelong plan needs lifelong_contact" in m for m in msgs)


def test_bad_clock_and_condition(alerts_copy):
    p = alerts_copy / "reporting_clocks.yaml"
    l1 = _replace_line(p, "days: immediately,", "days: asap,")
    l2 = _replace_line(p, "{when: [serious, unexpected], days: 15, basis: \"21 CFR",
                       "{when: [serious, unlisted], days: 15, basis: \"21 CFR")
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert any(m.startswith(f"alerts/reporting_clocks.yaml:{l1}:") and "jurisdictions.NMPA.clocks[0].days" in m for m in msgs)
    assert any(m.startswith(f"alerts/reporting_clocks.yaml:{l2}:") and "jurisdictions.FDA.clocks[0].when[1]" in m for m in msgs)


def test_missing_directory(tmp_path):
    with pytest.raises(RulesError, match="rules directory not found"):
        load_rules(tmp_path / "nope")


def test_signal_rules_errors_name_file_and_line(alerts_copy):
    line = _replace_line(alerts_copy / "signal_rules.yaml", "minimum: {eb05: 2, n: 3}", "minimum: {eb06: 2, n: 3}")
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert any(m.startswith(f"alerts/signal_rules.yaml:{line}:") and "unknown measure 'eb06'" in m for m in msgs), msgs


def test_analytics_rules_errors_name_file_and_line(alerts_copy):
    line = _replace_line(alerts_copy / "background_rates.yaml", "[0.113, 0.257, 0.584, 1.328, 3.018, 5.981]",
                         "[0.113, 0.257]")
    _replace_line(alerts_copy / "analytics.yaml", "min_events: 4", "min_events: 0")
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert any(m.startswith(f"alerts/background_rates.yaml:{line}:") and "one rate per age band (6), got 2" in m
               for m in msgs), msgs
    assert any(m.startswith("alerts/analytics.yaml:") and "sequential.min_events: must be >= 1" in m for m in msgs), msgs


def test_duplicate_analytics_groups_are_named(alerts_copy):
    path = alerts_copy / "analytics.yaml"
    path.write_text(path.read_text().replace("  - name: ICANS\n", "  - name: Cytokine release syndrome\n"))
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert any("adverse_events_of_special_interest[1].name: duplicate group 'Cytokine release syndrome'" in m
               for m in msgs), msgs


def test_mgps_prior_is_validated_with_file_and_line(alerts_copy):
    path = alerts_copy / "signal_rules.yaml"
    path.write_text(path.read_text() + "mgps_prior:\n  use: always\n"
                    "  hyperparameters: {alpha1: 3.2, beta1: 0.4, alpha2: 2.0, beta2: -1.9, p: 0.06}\n")
    line = len(path.read_text().splitlines())
    msgs = [str(i) for i in _error(alerts_copy).issues]
    assert any(m.startswith(f"alerts/signal_rules.yaml:{line}:") and "'beta2' must be a finite number > 0" in m
               for m in msgs), msgs
    path.write_text(path.read_text().replace("beta2: -1.9", "beta2: 1.9"))
    assert load_rules(alerts_copy).signals.mgps_prior.use == "always"
