"""Event groups by code: resolved as the signal job resolves them, members by PT code, names decide nothing."""
import datetime as dt

import pandas as pd

from pv_service.analytics.groups import event_groups, members, pt_code_group
from pv_service.demo import dictionary as demo_dictionary
from pv_service.meddra.loader import load

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def _by_name(engine, rules):
    with engine.connect() as conn:
        return {g.name: g for g in event_groups(conn, rules)}


def test_without_a_dictionary_only_explicit_pt_codes_count_and_the_group_says_so(db, rules):
    groups = _by_name(db, rules)
    tcell = groups["T-cell malignancies"]  # HLT codes only
    assert tcell.pt_codes == () and tcell.kind == "designated_medical_event"
    assert tcell.problems and "only the explicit PT codes count" in tcell.problems[0]
    tumour = groups["Tumour formation"]  # explicit PT codes and an SMQ
    assert tumour.pt_codes == ("96000024", "96000101", "96000102") and tumour.problems
    cytopenias = groups["Prolonged cytopenias"]
    assert (cytopenias.kind, cytopenias.pt_codes, cytopenias.problems) == (
        "special_interest", ("96000004", "96000005", "96000006", "96000007"), ())


def test_with_the_demo_dictionary_hlts_resolve_to_their_pts(db, rules):
    load(db, demo_dictionary.directory(), NOW)
    groups = _by_name(db, rules)
    tcell = groups["T-cell malignancies"]
    assert tcell.problems == ()
    # The demo's T-cell lymphoma PTs (demo_terms.csv 96000025..96000038) sit under the listed HLTs.
    assert {"96000025", "96000026", "96000032", "96000037"} <= set(tcell.pt_codes)
    assert "96000001" not in tcell.pt_codes  # CRS is not a T-cell malignancy
    assert dict(zip(tcell.pt_codes, tcell.pt_names, strict=True))["96000025"] == "T-cell lymphoma"


def test_members_match_by_code_never_by_name(db):
    reactions = pd.DataFrame({"pt_code": ["96000025", "96000099", "96000025"],
                              "pt_name": ["T-cell lymphoma", "T-cell lymphoma", "Lymphoma T-cell (local spelling)"]})
    with db.connect() as conn:
        group = pt_code_group(conn, [" 96000025", "96000025"])
    assert (group.name, group.pt_codes) == ("96000025", ("96000025",))
    assert members(reactions, group).tolist() == [True, False, True]
