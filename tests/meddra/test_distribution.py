"""Reading and checking a MedDRA ASCII distribution (no database)."""
from __future__ import annotations

import pytest

from pv_service.meddra.ascii import SPECS, MeddraFormatError, find_files, read_rows
from pv_service.meddra.distribution import fold, read_distribution
from tests.meddra import dictionaries
from tests.meddra.conftest import shared


def test_example_dictionary_from_its_files():
    dist = read_distribution(shared("example_meddra"))
    assert (dist.version, dist.language) == ("0.0", "English")  # meddra_release.asc has no final newline
    assert dist.counts() == {"llt": 3, "pt": 2, "hlt": 2, "hlgt": 2, "soc": 2, "mdhier": 2, "smq": 1, "smq_terms": 1}
    terms = {(t[0], t[1]): t for t in dist.terms}
    assert terms[("llt", "10001112")][2:5] == ("Example Head Pain", "10001111", False)  # llt_currency N
    assert terms[("pt", "10002111")][5] == "10000200"  # primary SOC from pt.asc
    assert terms[("soc", "10000100")][6:] == ("ExNS", 1)  # abbreviation, intl_ord
    # smq_content: 10000001$10001111$4$1$... : PT, scope 1 = broad
    assert dist.smq_terms == [("10000001", "pt", "10001111", "10001111", "broad", "A")]


@pytest.mark.parametrize("case", ["last_column", "last_column_10.0"])
def test_smq_list_with_and_without_trailing_dollar(case):
    path = shared(f"edge_cases/{case}/MedAscii/SMQ_List.asc")
    rows = read_rows(SPECS["smq_list.asc"], path.read_bytes(), path.name)
    assert rows == [(1, ("1", "foo", "foo", "example foo", "foo", "notable foo", "10.0", "Y", "N"))]


@pytest.mark.parametrize("case", ["empty_file", "capitalization_9.1", "last_column"])
def test_edge_case_folders_are_found_and_refused_as_incomplete(case):
    # Each holds only hlgt (upper-case HLGT.asc in 9.1) and perhaps SMQ_List: found in any case, empty is fine.
    folder = shared(f"edge_cases/{case}")
    with pytest.raises(MeddraFormatError, match="missing llt.asc, pt.asc") as exc:
        find_files(folder)
    missing = str(exc.value).split("missing ")[1].split(", ")
    assert "hlgt.asc" not in missing and ("smq_list.asc" in missing) == (case != "last_column")


def test_empty_file_reads_as_no_records():
    path = shared("edge_cases/empty_file/MedAscii/hlgt.asc")
    assert read_rows(SPECS["hlgt.asc"], path.read_bytes()) == []


def test_missing_medascii_is_refused():
    with pytest.raises(MeddraFormatError, match="not a MedDRA ASCII distribution: missing"):
        find_files(shared("edge_cases/missing_asc"))


def test_made_up_dictionary_in_every_layout_variant(tmp_path):
    plain = read_distribution(dictionaries.write(tmp_path / "a"))
    for i, kwargs in enumerate([{"trailing": False}, {"upper": True}, {"final_newline": False}]):
        other = read_distribution(dictionaries.write(tmp_path / f"v{i}", **kwargs))
        assert (other.terms, other.paths, other.smq_terms) == (plain.terms, plain.paths, plain.smq_terms)
        assert other.content_hash == plain.content_hash  # the records, not the bytes
    assert plain.version == "90.0"


def test_nested_smq_flattened_with_scopes(tmp_path):
    dist = read_distribution(dictionaries.write(tmp_path))
    by_smq = {}
    for smq, level, code, pt, scope, _ in dist.smq_terms:
        by_smq.setdefault(smq, set()).add((level, code, pt, scope))
    assert by_smq["90000502"] == {("pt", "90000301", "90000301", "narrow"), ("llt", "90000403", "90000303", "broad")}
    # The parent: the sub-SMQ's terms with their scopes, its own broad PT; the inactive PT 90000302 left out.
    assert by_smq["90000501"] == by_smq["90000502"] | {("pt", "90000303", "90000303", "broad")}


def test_multi_axial_pt_keeps_every_path_one_primary(tmp_path):
    dist = read_distribution(dictionaries.write(tmp_path))
    paths = sorted(p for p in dist.paths if p[0] == "90000301")
    assert paths == [("90000301", "90000201", "90000101", "90000001", False),
                     ("90000301", "90000202", "90000102", "90000002", True)]


def _refused(tmp_path, match, **write):
    with pytest.raises(MeddraFormatError, match=match) as exc:
        read_distribution(dictionaries.write(tmp_path, **write))
    return exc.value


def test_refusals_name_file_line_and_reason(tmp_path):
    rows = dictionaries.files(dictionaries.SMALL)
    llt = "\n".join("$".join(map(str, r)) + "$" for r in rows["llt.asc"])
    err = _refused(tmp_path / "a", r"llt.asc, line 2: LLT 90000401 points at PT 90000999",
                   overrides={"llt.asc": llt.replace("90000401$T cell lymphoma NOS$90000301", "90000401$T cell lymphoma NOS$90000999")})
    assert (err.file, err.line) == ("llt.asc", 2)
    _refused(tmp_path / "b", r"llt.asc, line 1: llt_code 'A0000301' is not an 8-digit MedDRA code",
             overrides={"llt.asc": llt.replace("90000301$T-cell", "A0000301$T-cell", 1)})
    _refused(tmp_path / "c", r"llt.asc, line 3: expected 11 \$-separated fields, found 9",
             overrides={"llt.asc": llt.replace("90000302$Cytokine release syndrome$90000302$$$", "90000302$Cytokine release syndrome$90000302$")})
    _refused(tmp_path / "d", r"hlt.asc, line 2: not UTF-8 text \(byte 0xe9\)",
             overrides={"hlt.asc": "90000201$Neutropenias$$$$$$$$\n90000202$Lymphom\xe9s$$$$$$$$\n".encode("latin-1")})
    _refused(tmp_path / "e", r"missing mdhier.asc", omit=("mdhier.asc",))
    _refused(tmp_path / "f", r"hlt.asc, line 2: a NUL character", overrides={"hlt.asc": "90000201$N$$$$$$$$\n9\0$"})
    long_name = dictionaries.variant(hlgts={**dictionaries.SMALL["hlgts"], "90000103": "x" * 251})
    _refused(tmp_path / "i", r"hlgt.asc, line 3: hlgt_name is 251 characters long, more than 250", spec=long_name)
    no_primary = dictionaries.variant(paths=[p for p in dictionaries.SMALL["paths"] if p[0] != "90000303"]
                                      + [("90000303", "90000201", "90000101", "90000001", False)])
    _refused(tmp_path / "g", r"pt.asc, line 3: PT 90000303 has no primary SOC", spec=no_primary)
    cycle = dictionaries.variant(smq_content=dictionaries.SMALL["smq_content"] + [("90000502", "90000501", 0, 0, "A")])
    _refused(tmp_path / "h", r"SMQs contain each other", spec=cycle)


def test_version_from_release_file_or_option(tmp_path):
    folder = dictionaries.write(tmp_path / "a")
    assert read_distribution(folder, "90.0").version == "90.0"
    with pytest.raises(MeddraFormatError, match=r"meddra_release.asc, line 1: the distribution is version '90.0', "
                                                r"not '27.1' as given"):
        read_distribution(folder, "27.1")
    bare = dictionaries.write(tmp_path / "b", omit=("meddra_release.asc",))
    with pytest.raises(MeddraFormatError, match="give --version"):
        read_distribution(bare)
    assert read_distribution(bare, "27.1").version == "27.1"
    with pytest.raises(MeddraFormatError, match="is not a MedDRA version"):
        read_distribution(bare, "latest")


def test_fold_is_case_accent_and_space_insensitive():
    assert fold("  Neutrophil COUNT  Décreased ") == fold("neutrophil count decreased") == "neutrophil count decreased"
    assert fold("ﬁbrosis") == "fibrosis"  # NFKD splits the ligature


def test_coding_rule_file_is_optional_and_validated(tmp_path):
    import shutil

    from pv_service.core.settings import PROJECT_ROOT
    from pv_service.rules import RulesError, load_rules

    rules = tmp_path / "alerts"
    shutil.copytree(PROJECT_ROOT / "alerts", rules)
    assert load_rules(rules).meddra_coding.non_current_llt == "warn"  # as shipped
    (rules / "meddra_coding.yaml").unlink()
    assert load_rules(rules).meddra_coding.non_current_llt == "warn"  # the default without the file
    (rules / "meddra_coding.yaml").write_text("non_current_llt: reject\n")
    with pytest.raises(RulesError, match=r"meddra_coding.yaml:1:\d+: non_current_llt"):
        load_rules(rules)
