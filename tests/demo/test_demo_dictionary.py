"""The demo's synthetic MedDRA-layout dictionary: shipped files = generator, readable by the loader's
parser, outside MedDRA's code range, consistent with the demo terms, and naming every code the shipped
designated-medical-event groups refer to."""
from __future__ import annotations

from pv_service.demo import dictionary
from pv_service.demo.cohort import load_demo_terms
from pv_service.meddra.distribution import read_distribution
from pv_service.rules import load_rules


def test_shipped_files_are_the_generators_output():
    folder = dictionary.directory() / "MedAscii"
    shipped = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
    assert shipped == dictionary.files(), "regenerate with python -m pv_service.demo.dictionary"


def test_it_loads_with_the_operators_parser_and_every_code_is_synthetic():
    dist = read_distribution(dictionary.directory())
    assert dist.version == dictionary.VERSION
    codes = [t[1] for t in dist.terms] + [s[0] for s in dist.smqs]
    assert all(c.startswith("9") and len(c) == 8 for c in codes)  # MedDRA's codes start with 1
    assert any(not t[4] for t in dist.terms if t[0] == "llt")  # a non-current LLT, as real releases have
    multi = {p[0] for p in dist.paths if not p[4]}
    assert "96000003" in multi  # HLH: primary Blood, secondary Immune
    assert any(s[2] == 1 for s in dist.smqs) and any(t[1] == "pt" for t in dist.smq_terms)


def test_every_demo_term_is_a_pt_under_the_soc_the_term_file_names():
    dist = read_distribution(dictionary.directory())
    pts = {t[1]: t for t in dist.terms if t[0] == "pt"}
    socs = {t[1]: t[2] for t in dist.terms if t[0] == "soc"}
    for name, term in load_demo_terms().items():
        assert term.code in pts and pts[term.code][2] == name, name
        assert socs[pts[term.code][5]] == term.soc_name == socs[term.soc_code], name


def test_shipped_groups_refer_to_codes_of_the_demo_dictionary():
    dist = read_distribution(dictionary.directory())
    pts = {t[1] for t in dist.terms if t[0] == "pt"}
    hlts = {t[1] for t in dist.terms if t[0] == "hlt"}
    smqs = {s[0] for s in dist.smqs}
    groups = load_rules("alerts").signals.designated_medical_events
    assert [g.name for g in groups] == ["T-cell malignancies", "Myeloid neoplasms", "Tumour formation",
                                        "Ectopic tissue formation"]
    for g in groups:
        assert set(g.pt_codes) <= pts and set(g.hlt_codes) <= hlts and {s.code for s in g.smqs} <= smqs, g.name
    under = {name for name, hlts_ in dictionary.PTS.items() if hlts_[0] in groups[0].hlt_codes}
    # Every T-cell malignancy of the primer (the names the rules used to list) is reached through the HLTs.
    assert len(under) == 15 and "Large granular lymphocytic leukaemia" in under
