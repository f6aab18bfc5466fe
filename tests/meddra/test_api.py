"""GET /v1/meddra/...: versions, search, a term's hierarchy and SMQs; /health says what is loaded."""
from __future__ import annotations

import pytest

from pv_service.meddra.loader import load
from tests.conftest import NOW
from tests.meddra import dictionaries


@pytest.fixture
def loaded(db, tmp_path):
    load(db, dictionaries.write(tmp_path / "v0"), NOW)
    renamed = dictionaries.variant(version="90.1", pts={**dictionaries.SMALL["pts"], "90000303": "Neutropenia febrile"})
    load(db, dictionaries.write(tmp_path / "v1", renamed), NOW)
    return db


def test_health_and_versions(client, world, db, tmp_path):
    assert client.get("/health").json()["meddra"] == {
        "loaded": False, "versions": [], "newest": None, "coding": "no dictionary loaded: codes and names stored as sent"}
    assert client.get("/v1/meddra/terms", headers=world.clinic.headers).status_code == 404
    load(db, dictionaries.write(tmp_path / "a"), NOW)
    load(db, dictionaries.write(tmp_path / "b", dictionaries.variant(version="9.1")), NOW)
    health = client.get("/health").json()["meddra"]
    assert (health["loaded"], health["versions"], health["newest"]) == (True, ["90.0", "9.1"], "90.0")
    for actor in (world.clinic, world.mah, world.safety, world.admin):
        versions = client.get("/v1/meddra/versions", headers=actor.headers)
        assert versions.status_code == 200
        assert [v["version"] for v in versions.json()] == ["90.0", "9.1"]  # numerically newest first
    assert versions.json()[0]["counts"]["llt"] == 6
    assert client.get("/v1/meddra/versions").status_code == 401


def test_search_by_name_and_code(client, world, loaded):
    h = world.clinic.headers
    got = client.get("/v1/meddra/terms", params={"q": "LYMPHOMA", "version": "90.0"}, headers=h).json()
    # Current first; among them the name that starts with the query ("Lymphomas HLGT"), then by level and
    # name; the non-current LLT last.
    assert [(t["level"], t["code"], t["current"]) for t in got["items"]] == [
        ("hlgt", "90000102", True), ("llt", "90000301", True), ("pt", "90000301", True), ("hlt", "90000201", True),
        ("hlt", "90000202", True), ("llt", "90000401", False)]
    accent = client.get("/v1/meddra/terms", params={"q": "neutrophil count DECREASED", "level": "llt"}, headers=h).json()
    assert [t["code"] for t in accent["items"]] == ["90000403"]  # "décreased" in the dictionary
    exact_first = client.get("/v1/meddra/terms", params={"q": "neutropenia", "level": "pt"}, headers=h).json()
    assert [t["name"] for t in exact_first["items"]] == ["Neutropenia febrile"]  # newest version by default
    by_code = client.get("/v1/meddra/terms", params={"q": "90000301"}, headers=h).json()
    assert [(t["level"], t["pt_code"]) for t in by_code["items"]] == [("llt", "90000301"), ("pt", "90000301")]
    wildcard = client.get("/v1/meddra/terms", params={"q": "%"}, headers=h).json()
    assert wildcard["items"] == []  # LIKE characters are literal
    page1 = client.get("/v1/meddra/terms", params={"limit": 4}, headers=h).json()
    page2 = client.get("/v1/meddra/terms", params={"limit": 4, "cursor": page1["next_cursor"]}, headers=h).json()
    rest = client.get("/v1/meddra/terms", params={"limit": 100}, headers=h).json()
    assert page1["items"] + page2["items"] == rest["items"][:8] and len(rest["items"]) == 18
    assert rest["next_cursor"] is None
    missing = client.get("/v1/meddra/terms", params={"version": "27.1"}, headers=h)
    assert missing.status_code == 404 and "MedDRA version 27.1 is not loaded (loaded: 90.1, 90.0)" in missing.text
    assert client.get("/v1/meddra/terms", params={"level": "smq"}, headers=h).status_code == 422
    assert client.get("/v1/meddra/terms", params={"version": "newest"}, headers=h).status_code == 422


def test_term_detail_non_current_llt_of_a_multi_axial_pt(client, world, loaded):
    got = client.get("/v1/meddra/terms/90000401", params={"version": "90.0"}, headers=world.mah.headers)
    assert got.status_code == 200, got.text
    t = got.json()
    assert (t["level"], t["name"], t["current"], t["also_at_levels"]) == ("llt", "T cell lymphoma NOS", False, [])
    assert t["pt"] == {"code": "90000301", "name": "T-cell lymphoma"} and t["primary_soc_code"] == "90000002"
    assert t["paths"] == [
        {"primary": True, "hlt": {"code": "90000202", "name": "T-cell lymphomas HLT"},
         "hlgt": {"code": "90000102", "name": "Lymphomas HLGT"},
         "soc": {"code": "90000002", "name": "Neoplasms (synthetic)", "abbrev": "Neopl"}},
        {"primary": False, "hlt": {"code": "90000201", "name": "Neutropenias and lymphomas HLT"},
         "hlgt": {"code": "90000101", "name": "Haematology HLGT"},
         "soc": {"code": "90000001", "name": "Blood and lymphatic system disorders (synthetic)", "abbrev": "Blood"}}]
    # PT 90000301 is narrow in the sub-SMQ 90000502, hence narrow in its parent 90000501 too.
    assert [(s["code"], s["scope"], s["via"]) for s in t["smqs"]] == [("90000501", "narrow", "pt"),
                                                                       ("90000502", "narrow", "pt")]


def test_term_detail_levels_and_smq_via_llt(client, world, loaded):
    h = world.clinic.headers
    shared_code = client.get("/v1/meddra/terms/90000303", params={"version": "90.0"}, headers=h).json()
    assert (shared_code["level"], shared_code["also_at_levels"]) == ("llt", ["pt"])
    pt = client.get("/v1/meddra/terms/90000303", params={"version": "90.0", "level": "pt"}, headers=h).json()
    assert (pt["level"], pt["llt"], [s["scope"] for s in pt["smqs"]]) == ("pt", None, ["broad"])
    llt = client.get("/v1/meddra/terms/90000403", params={"version": "90.0"}, headers=h).json()
    # Broad in both: as an LLT of the sub-SMQ and through its PT in the parent.
    assert sorted((s["code"], s["scope"], s["via"]) for s in llt["smqs"]) == [("90000501", "broad", "llt"),
                                                                              ("90000502", "broad", "llt")]
    hlt = client.get("/v1/meddra/terms/90000201", params={"version": "90.0"}, headers=h).json()
    assert hlt["paths"] == [{"primary": None, "hlt": None, "hlgt": {"code": "90000101", "name": "Haematology HLGT"},
                             "soc": {"code": "90000001", "name": "Blood and lymphatic system disorders (synthetic)",
                                     "abbrev": "Blood"}}]
    assert [c["code"] for c in hlt["children"]] == ["90000303", "90000301"]  # by name: Neutropenia, T-cell
    soc = client.get("/v1/meddra/terms/90000002", headers=h).json()
    assert (soc["level"], soc["paths"], soc["children"][0]["level"]) == ("soc", [{"primary": None, "hlt": None,
                                                                                  "hlgt": None, "soc": None}], "hlgt")
    unknown = client.get("/v1/meddra/terms/90009999", headers=h)
    assert unknown.status_code == 404 and "no term with code 90009999 in MedDRA 90.1" in unknown.text
    assert client.get("/v1/meddra/terms/9000030", headers=h).status_code == 422
    assert client.get("/v1/meddra/terms/90000303", params={"version": "12.0"}, headers=h).status_code == 404
