"""Counts at every MedDRA level, by SQL over stored reactions joined to a loaded version, checked
by hand on the made-up dictionary tests/meddra/dictionaries.SMALL, and the pure CLI route on the
same rows.

SMALL (codes 9xxxxxxx, synthetic):
  PT 90000301 T-cell lymphoma   primary HLT 202 > HLGT 102 > SOC 002; secondary HLT 201 > HLGT 101 > SOC 001
  PT 90000302 CRS               HLT 203 > HLGT 103 > SOC 003
  PT 90000303 Neutropenia       HLT 201 > HLGT 101 > SOC 001  (LLT 90000403 "Neutrophil count decreased")
  SMQ 502 (level 2): PT 301 narrow, LLT 403 broad
  SMQ 501 (level 1): SMQ 502, PT 303 broad, PT 302 narrow but inactive
  Flattened: 501 narrow {PT 301}; 501 broad {PT 301, LLT 403, PT 303}; 502 narrow {PT 301}; 502 broad {PT 301, LLT 403}

Cases (names deliberately vary: they must not change a count):
  case  products  reactions (pt_code / llt_code)
  1     X         301 "T-Cell Lymphoma " / 301, 303 / 303
  2     X         303 / LLT 403
  3     X         302
  4     Y         301 "t-cell lymphoma"
  5     Y         302, 302 (repeated)
  6     Y         303 / 303
  7     X, Y      99999999 (a code the version lacks: stays in the background only)
X: cases 1, 2, 3, 7 (4).  Y: 4, 5, 6, 7 (4).  n_total 7.
"""
from __future__ import annotations

import pandas as pd
import pytest
from sqlmodel import select

from pv_service.meddra.distribution import read_distribution
from pv_service.meddra.loader import load
from pv_service.products.models import Product
from pv_service.signals.dataset import pair_counts
from pv_service.signals.levels import Level, compute_at_level
from pv_service.signals.models import SignalPair
from pv_service.signals.runs import run_signals
from tests.conftest import NOW
from tests.meddra import dictionaries

T_CELL, CRS, NEUTRO, LLT_NEUTRO = "90000301", "90000302", "90000303", "90000403"
CASES = [
    (1, ["X"], [(T_CELL, "T-Cell Lymphoma ", T_CELL), (NEUTRO, "Neutropenia", NEUTRO)]),
    (2, ["X"], [(NEUTRO, "Neutropenia", LLT_NEUTRO)]),
    (3, ["X"], [(CRS, "Cytokine release syndrome", None)]),
    (4, ["Y"], [(T_CELL, "t-cell lymphoma", None)]),
    (5, ["Y"], [(CRS, "CRS", None), (CRS, "CRS", None)]),
    (6, ["Y"], [(NEUTRO, "Neutropenia", NEUTRO)]),
    (7, ["X", "Y"], [("99999999", "Something unknown", None)]),
]


@pytest.fixture
def coded(client, session, world, db, tmp_path):
    for code, mah in (("X", world.mah_a), ("Y", world.mah_b)):
        session.add(Product(code=code, inn=code.lower(), trade_name=code, modality="car_t",
                            mah_organization_id=mah.id, created_at=NOW))
    session.commit()
    h = world.clinic.headers
    for i, products, reactions in CASES:
        p = client.post("/v1/patients", json={"local_id": f"L{i}", "sex": "female" if i % 2 else "male",
                                              "birth_year": 1960}, headers=h).json()
        drugs = []
        for code in products:
            t = client.post("/v1/treatments", json={"patient_id": p["id"], "product_code": code, "batch_number": "B",
                                                    "infusion_date": "2025-01-01"}, headers=h).json()
            drugs.append({"treatment_id": t["id"], "role": "suspect"})
        body = {"sender_case_id": f"L{i}", "received_date": "2025-03-01", "reporter": {"qualification": "physician"},
                "patient": {"patient_id": p["id"]}, "drugs": drugs,
                "reactions": [{"pt_code": pt, "pt_name": name, **({"llt_code": llt} if llt else {})}
                              for pt, name, llt in reactions]}
        r = client.post("/v1/reports", json=body, headers=h)
        assert r.status_code == 201, r.text
    # Loaded after intake, so these tests do not depend on how intake checks codes.
    load(db, dictionaries.write(tmp_path), NOW)
    return dictionaries.SMALL["version"]


def _counts(session, level: Level, version, strata=()) -> dict:
    frame = pair_counts(session, level=level, meddra_version=version, strata=strata)
    return {(r.product, r.event): (r.a, r.n_product, r.n_event, r.n_total) for r in frame.itertuples()}


# (level, {(product, code): (a, n_product, n_event, n_total)}), each worked out from the table above.
HAND = [
    (Level("pt"), {("X", T_CELL): (1, 4, 2, 7), ("X", NEUTRO): (2, 4, 3, 7), ("X", CRS): (1, 4, 2, 7),
                   ("X", "99999999"): (1, 4, 1, 7), ("Y", T_CELL): (1, 4, 2, 7), ("Y", NEUTRO): (1, 4, 3, 7),
                   ("Y", CRS): (1, 4, 2, 7), ("Y", "99999999"): (1, 4, 1, 7)}),
    # Primary paths: 301 -> HLT 202, 302 -> 203, 303 -> 201.  201: cases 1, 2, 6; 202: 1, 4; 203: 3, 5.
    (Level("hlt"), {("X", "90000201"): (2, 4, 3, 7), ("X", "90000202"): (1, 4, 2, 7), ("X", "90000203"): (1, 4, 2, 7),
                    ("Y", "90000201"): (1, 4, 3, 7), ("Y", "90000202"): (1, 4, 2, 7), ("Y", "90000203"): (1, 4, 2, 7)}),
    # All paths: 301 also -> HLT 201.  201: cases 1 (once, though both its PTs lead there), 2, 4, 6.
    (Level("hlt", paths="all"), {("X", "90000201"): (2, 4, 4, 7), ("X", "90000202"): (1, 4, 2, 7),
                                 ("X", "90000203"): (1, 4, 2, 7), ("Y", "90000201"): (2, 4, 4, 7),
                                 ("Y", "90000202"): (1, 4, 2, 7), ("Y", "90000203"): (1, 4, 2, 7)}),
    (Level("hlgt"), {("X", "90000101"): (2, 4, 3, 7), ("X", "90000102"): (1, 4, 2, 7), ("X", "90000103"): (1, 4, 2, 7),
                     ("Y", "90000101"): (1, 4, 3, 7), ("Y", "90000102"): (1, 4, 2, 7), ("Y", "90000103"): (1, 4, 2, 7)}),
    # The multi-axial T-cell lymphoma counts under its primary SOC 002 only...
    (Level("soc"), {("X", "90000001"): (2, 4, 3, 7), ("X", "90000002"): (1, 4, 2, 7), ("X", "90000003"): (1, 4, 2, 7),
                    ("Y", "90000001"): (1, 4, 3, 7), ("Y", "90000002"): (1, 4, 2, 7), ("Y", "90000003"): (1, 4, 2, 7)}),
    # ... and under SOC 001 too with all paths: case 4 joins SOC 001, case 1 still counts once there.
    (Level("soc", paths="all"), {("X", "90000001"): (2, 4, 4, 7), ("X", "90000002"): (1, 4, 2, 7),
                                 ("X", "90000003"): (1, 4, 2, 7), ("Y", "90000001"): (2, 4, 4, 7),
                                 ("Y", "90000002"): (1, 4, 2, 7), ("Y", "90000003"): (1, 4, 2, 7)}),
    # Narrow: PT 301 only, in 502 and (through 502) in 501: cases 1, 4.  The inactive CRS never counts.
    (Level("smq"), {("X", "90000501"): (1, 4, 2, 7), ("X", "90000502"): (1, 4, 2, 7),
                    ("Y", "90000501"): (1, 4, 2, 7), ("Y", "90000502"): (1, 4, 2, 7)}),
    # Broad: 501 adds LLT 403 (case 2) and PT 303 (cases 1, 2, 6): cases 1, 2, 4, 6.  502 adds LLT 403 only:
    # case 2 (coded at that LLT) joins, case 6 (PT 303 through another LLT) does not.
    (Level("smq", scope="broad"), {("X", "90000501"): (2, 4, 4, 7), ("X", "90000502"): (2, 4, 3, 7),
                                   ("Y", "90000501"): (2, 4, 4, 7), ("Y", "90000502"): (1, 4, 3, 7)}),
]


@pytest.mark.parametrize("level,expected", HAND, ids=[lv.label for lv, _ in HAND])
def test_counts_at_each_level_match_the_hand_count(session, coded, level, expected):
    assert _counts(session, level, coded) == expected


def test_stratified_counts_keep_every_case_in_its_stratum(session, coded):
    """By sex (odd cases female, even male): every case stays in its stratum's margins."""
    frame = pair_counts(session, level=Level("soc"), meddra_version=coded, strata=["sex"])
    rows = {(r.product, r.event, r.sex): (r.a, r.n_product, r.n_event, r.n_total) for r in frame.itertuples()}
    # Women: cases 1, 3, 5, 7 (X: 1, 3, 7; Y: 5, 7).  SOC 001 among women: case 1.
    assert rows[("X", "90000001", "female")] == (1, 3, 1, 4)
    # Men: cases 2, 4, 6 (X: 2; Y: 4, 6).  SOC 001 among men: cases 2, 6.
    assert rows[("Y", "90000001", "male")] == (1, 2, 2, 3)
    assert rows[("X", "90000001", "male")] == (1, 1, 2, 3)


def test_level_above_pt_without_a_dictionary_is_refused(session, client, world):
    from pv_service.signals.counts import SignalInputError
    with pytest.raises(SignalInputError, match="needs a loaded MedDRA dictionary"):
        pair_counts(session, level=Level("hlt"))


def test_stored_run_records_level_version_and_names(client, session, world, coded):
    run = run_signals(session, NOW, level=Level("soc", paths="all"), meddra_version=coded)
    session.commit()
    assert run.level == "soc:all" and run.params["meddra_version"] == coded
    assert run.params["level_options"] == {"level": "soc", "paths": "all"}
    assert run.params["pt_codes_not_in_version"] == {"count": 1, "examples": ["99999999"]}
    pair = session.exec(select(SignalPair).where(SignalPair.run_id == run.id, SignalPair.product == "Y",
                                                 SignalPair.event == "90000001")).one()
    assert (pair.n, pair.n_product, pair.n_event, pair.n_total) == (2, 4, 4, 7)
    assert pair.event_name == "Blood and lymphatic system disorders (synthetic)"
    # a=2, b=2, c=2, d=1: PRR = (2/4)/(2/3) = 0.75; ROR = 2*1/(2*2) = 0.5.
    assert pair.prr == pytest.approx(0.75) and pair.ror == pytest.approx(0.5)

    s = world.safety.headers
    page = client.get(f"/v1/signals/runs/{run.id}/pairs", params={"level": "soc:all", "product": "Y"}, headers=s)
    assert page.status_code == 200
    assert {(p["event"], p["event_name"], p["n"]) for p in page.json()["items"]} >= {
        ("90000001", "Blood and lymphatic system disorders (synthetic)", 2)}
    wrong = client.get(f"/v1/signals/runs/{run.id}/pairs", params={"level": "soc"}, headers=s)
    assert wrong.status_code == 422 and "soc:all" in wrong.text and "level" in wrong.text
    bogus = client.get(f"/v1/signals/runs/{run.id}/pairs", params={"level": "xyz"}, headers=s)
    assert bogus.status_code == 422 and "xyz" in bogus.text


def test_pt_level_is_keyed_by_code_whatever_the_name(client, session, world, coded):
    """'T-Cell Lymphoma ' and 't-cell lymphoma' are one PT; its name comes from the dictionary."""
    run = run_signals(session, NOW, meddra_version=coded)
    session.commit()
    pairs = session.exec(select(SignalPair).where(SignalPair.run_id == run.id, SignalPair.event == T_CELL)).all()
    assert sorted((p.product, p.n, p.n_event) for p in pairs) == [("X", 1, 2), ("Y", 1, 2)]
    assert {p.event_name for p in pairs} == {"T-cell lymphoma"}


def _rows_of_cases() -> pd.DataFrame:
    return pd.DataFrame([(f"C{i}", product, pt) for i, products, reactions in CASES for product in products
                         for pt, _, _ in reactions], columns=["report_id", "product", "event"])


@pytest.mark.parametrize("level,expected", [h for h in HAND if h[0].level != "smq" or h[0].scope == "narrow"],
                         ids=[lv.label for lv, _ in HAND if lv.level != "smq" or lv.scope == "narrow"])
def test_cli_route_counts_the_same_from_the_distribution_files(tmp_path, level, expected):
    """The pure route (report rows of PT codes + the parsed directory) gives the database's counts. It
    refuses codes the dictionary lacks, so case 7 is left out: n_product and n_total drop by one, nothing
    else changes. (SMQ broad is left out: report rows carry no LLT, so LLT 403 cannot match there.)"""
    dist = read_distribution(dictionaries.write(tmp_path))
    rows = _rows_of_cases()
    rows = rows[rows["event"] != "99999999"]
    result = compute_at_level(rows, dist, level, strata=[], max_stratum_levels=50)
    got = {(r.product, r.event): (r.n, r.n_product, r.n_event, r.n_total) for r in result.table.itertuples()}
    if level.level == "pt":
        expected = {k: v for k, v in expected.items() if k[1] != "99999999"}
    assert got == {k: (a, n_p - 1, n_e, n_t - 1) for k, (a, n_p, n_e, n_t) in expected.items()}
