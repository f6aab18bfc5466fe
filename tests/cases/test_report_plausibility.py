"""The report plausibility rules as pure functions (pv_service.cases.plausibility)."""
from __future__ import annotations

from pv_service.cases.plausibility import latest_info_problems, onset_warnings, version_problems
from pv_service.common.vocab import DrugRole
from tests.conftest import D


def test_versions_run_without_gaps():
    assert version_problems(0, None) == [] and version_problems(1, 0) == [] and version_problems(0, 3) == []
    [p] = version_problems(2, None)
    assert p.loc == ("body", "version") and "starts at 0" in p.msg
    [p] = version_problems(3, 0)
    assert "next one is 1, not 3" in p.msg


def test_latest_info_date_never_goes_back():
    assert latest_info_problems(D("2025-03-01"), None) == []
    assert latest_info_problems(D("2025-03-01"), D("2025-03-01")) == []
    [p] = latest_info_problems(D("2025-02-28"), D("2025-03-01"))
    assert p.loc == ("body", "latest_info_date") and "2025-03-01" in p.msg


def test_onset_before_every_suspect_infusion_is_a_warning():
    infusions = {1: D("2025-01-10"), 2: D("2024-06-01")}
    onsets = [D("2025-01-05"), None, D("2025-01-10")]
    # treatment 1 suspect only: the first reaction predates it
    [w] = onset_warnings(onsets, [(1, DrugRole.suspect)], infusions)
    assert w.loc == ("body", "reactions", 0, "onset_date") and "2025-01-10" in w.msg
    # an earlier suspect infusion (2) explains it; a concomitant one does not count
    assert onset_warnings(onsets, [(1, DrugRole.suspect), (2, DrugRole.interacting)], infusions) == []
    assert len(onset_warnings(onsets, [(1, DrugRole.suspect), (2, DrugRole.concomitant)], infusions)) == 1
    assert onset_warnings(onsets, [(2, DrugRole.not_administered)], infusions) == []
