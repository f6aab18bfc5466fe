"""The demo's made-up MedDRA dictionary, written in the exact MedDRA ASCII layout.

SYNTHETIC: every code is outside MedDRA's range (MedDRA codes are 8 digits starting with
1; these start with 9: SOC 99..., HLGT 98..., HLT 97..., PT 96..., other LLTs 95..., SMQ
90...), and version "90.0" is no MedDRA release. Names and structure imitate MedDRA for
the demo's terms (pv_service/demo/data/demo_terms.csv) and the designated medical events
of alerts/signal_rules.yaml; they are not the licensed content and must not be used to
code real reports.

`HIERARCHY` is the source; `pv_service/demo/data/meddra/` holds the files it writes
(tests/demo/test_demo_dictionary.py fails when they drift apart). Regenerate with
``python -m pv_service.demo.dictionary``.
"""
from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

VERSION = "90.0"
LANGUAGE = "English"

# SOC code, name, abbreviation, international order.
SOCS = [
    ("99000001", "Blood and lymphatic system disorders", "Blood", 1),
    ("99000002", "Immune system disorders", "Immun", 4),
    ("99000003", "Infections and infestations", "Infec", 5),
    ("99000004", "Nervous system disorders", "Nerv", 10),
    ("99000005", "Metabolism and nutrition disorders", "Metab", 8),
    ("99000006", "Injury, poisoning and procedural complications", "Inj&P", 6),
    ("99000007", "General disorders and administration site conditions", "Genrl", 3),
    ("99000008", "Vascular disorders", "Vasc", 13),
    ("99000009", "Respiratory, thoracic and mediastinal disorders", "Resp", 12),
    ("99000010", "Neoplasms benign, malignant and unspecified (incl cysts and polyps)", "Neopl", 9),
    ("99000011", "Congenital, familial and genetic disorders", "Cong", 2),
]

# HLGT code, name, SOC.
HLGTS = [
    ("98000101", "White blood cell disorders", "99000001"),
    ("98000102", "Platelet disorders", "99000001"),
    ("98000103", "Anaemias nonhaemolytic and marrow depression", "99000001"),
    ("98000201", "Immune disorders NEC", "99000002"),
    ("98000202", "Immunodeficiency syndromes", "99000002"),
    ("98000203", "Transplant rejection and graft versus host disease", "99000002"),
    ("98000301", "Infections - pathogen unspecified", "99000003"),
    ("98000302", "Viral infectious disorders", "99000003"),
    ("98000401", "Encephalopathies", "99000004"),
    ("98000402", "Movement disorders (incl parkinsonism)", "99000004"),
    ("98000501", "Metabolism disorders NEC", "99000005"),
    ("98000601", "Procedural related injuries and complications NEC", "99000006"),
    ("98000701", "Body temperature conditions", "99000007"),
    ("98000801", "Embolism and thrombosis", "99000008"),
    ("98000901", "Pulmonary vascular disorders", "99000009"),
    ("98000902", "Respiratory tract infections", "99000009"),
    ("98001001", "Leukaemias", "99000010"),
    ("98001002", "Haematopoietic neoplasms (excl leukaemias and lymphomas)", "99000010"),
    ("98001003", "Lymphomas non-Hodgkin's T-cell", "99000010"),
    ("98001004", "Neoplasms unspecified malignancy and site unspecified", "99000010"),
    ("98001005", "Germ cell neoplasms", "99000010"),
    ("98001101", "Congenital and hereditary disorders NEC", "99000011"),
]

# HLT code, name, HLGT.
HLTS = [
    ("97000101", "Neutropenias", "98000101"),
    ("97000102", "Histiocytoses", "98000101"),
    ("97000103", "Thrombocytopenias", "98000102"),
    ("97000104", "Anaemias NEC", "98000103"),
    ("97000105", "Marrow depression and hypoplastic anaemias", "98000103"),
    ("97000201", "Cytokine release syndromes", "98000201"),
    ("97000202", "Immune and associated conditions NEC", "98000201"),
    ("97000203", "Humoral immune deficiencies", "98000202"),
    ("97000204", "Graft versus host diseases", "98000203"),
    ("97000301", "Lower respiratory tract and lung infections", "98000301"),
    ("97000302", "Sepsis, bacteraemia, viraemia and fungaemia NEC", "98000301"),
    ("97000303", "Coronavirus infections", "98000302"),
    ("97000304", "Herpes viral infections", "98000302"),
    ("97000305", "Polyomavirus infections", "98000302"),
    ("97000401", "Toxic and metabolic encephalopathies", "98000401"),
    ("97000402", "Leukoencephalopathies", "98000401"),
    ("97000403", "Parkinson's disease and parkinsonism", "98000402"),
    ("97000501", "Metabolic disorders NEC", "98000501"),
    ("97000601", "Infusion related reactions", "98000601"),
    ("97000701", "Febrile disorders", "98000701"),
    ("97000801", "Peripheral embolism and thrombosis", "98000801"),
    ("97000802", "Embolism and thrombosis NEC", "98000801"),
    ("97000901", "Pulmonary thrombotic and embolic conditions", "98000901"),
    ("97000902", "Lower respiratory tract infections NEC", "98000902"),
    ("97001001", "Leukaemias acute myeloid", "98001001"),
    ("97001002", "T-cell leukaemias", "98001001"),
    ("97001003", "Myelodysplastic syndromes", "98001002"),
    ("97001010", "Peripheral T-cell lymphomas NEC", "98001003"),
    ("97001011", "Angioimmunoblastic T-cell lymphomas", "98001003"),
    ("97001012", "Anaplastic large cell lymphomas T- and null-cell types", "98001003"),
    ("97001013", "Adult T-cell lymphomas/leukaemias", "98001003"),
    ("97001014", "Cutaneous T-cell lymphomas", "98001003"),
    ("97001015", "Precursor T-lymphoblastic lymphomas/leukaemias", "98001003"),
    ("97001020", "Neoplasms unspecified malignancy NEC", "98001004"),
    ("97001021", "Germ cell neoplasms NEC", "98001005"),
    ("97001101", "Ectopic tissue conditions", "98001101"),
]

# PT name -> primary HLT, then secondary HLTs (multi-axial PTs). PT codes are 960000nn,
# nn the demo term's number (demo_terms.csv), then 96000101... for terms the cohort does
# not generate but the designated-medical-event groups name.
PTS = {
    "Cytokine release syndrome": ["97000201"],
    "Immune effector cell-associated neurotoxicity syndrome": ["97000401"],
    "Haemophagocytic lymphohistiocytosis": ["97000102", "97000202"],
    "Neutropenia": ["97000101"],
    "Febrile neutropenia": ["97000101"],
    "Thrombocytopenia": ["97000103"],
    "Anaemia": ["97000104"],
    "Hypogammaglobulinaemia": ["97000203"],
    "Pneumonia": ["97000301", "97000902"],
    "Sepsis": ["97000302"],
    "COVID-19": ["97000303"],
    "Herpes zoster": ["97000304"],
    "Cytomegalovirus infection reactivation": ["97000304"],
    "Progressive multifocal leukoencephalopathy": ["97000305", "97000402"],
    "Parkinsonism": ["97000403"],
    "Tumour lysis syndrome": ["97000501"],
    "Infusion related reaction": ["97000601"],
    "Pyrexia": ["97000701"],
    "Deep vein thrombosis": ["97000801"],
    "Pulmonary embolism": ["97000901", "97000802"],
    "Acute graft versus host disease": ["97000204"],
    "Myelodysplastic syndrome": ["97001003", "97000105"],
    "Acute myeloid leukaemia": ["97001001"],
    "Neoplasm": ["97001020"],
    "T-cell lymphoma": ["97001010"],
    "Peripheral T-cell lymphoma unspecified": ["97001010"],
    "Angioimmunoblastic T-cell lymphoma": ["97001011"],
    "Anaplastic large cell lymphoma": ["97001012"],
    "Adult T-cell lymphoma/leukaemia": ["97001013"],
    "Hepatosplenic T-cell lymphoma": ["97001010"],
    "Enteropathy-associated T-cell lymphoma": ["97001010"],
    "Cutaneous T-cell lymphoma": ["97001014"],
    "Mycosis fungoides": ["97001014"],
    "Sezary syndrome": ["97001014"],
    "T-cell prolymphocytic leukaemia": ["97001002"],
    "T-cell type acute leukaemia": ["97001002"],
    "Precursor T-lymphoblastic lymphoma/leukaemia": ["97001015"],
    "T-cell chronic lymphocytic leukaemia": ["97001002"],
    "Large granular lymphocytic leukaemia": ["97001002"],
    # Named by the stem-cell designated medical events; not generated by the demo cohort.
    "Neoplasm malignant": ["97001020"],
    "Teratoma": ["97001021"],
    "Ectopic tissue formation": ["97001101"],
}
EXTRA_PT_CODES = {"Neoplasm malignant": "96000101", "Teratoma": "96000102", "Ectopic tissue formation": "96000103"}

# Further LLTs (code, name, PT name, current): synonyms and one non-current term, as in MedDRA.
LLTS = [
    ("95000001", "Cytokine storm", "Cytokine release syndrome", True),
    ("95000002", "ICANS", "Immune effector cell-associated neurotoxicity syndrome", True),
    ("95000003", "Neutropenic fever", "Febrile neutropenia", True),
    ("95000004", "Fever", "Pyrexia", True),
    ("95000005", "Lymphoma T-cell", "T-cell lymphoma", False),
    ("95000006", "Shingles", "Herpes zoster", True),
]

# SMQ code, name, level, description, then content (term, scope) where a term is a PT name
# (narrow or broad) or ("smq", code) for a sub-SMQ.
SMQS = [
    ("90000001", "Malignant tumours (synthetic)", 1, "Malignant or unspecified tumours; contains the haematological SMQ.",
     [(("smq", "90000002"), None), ("Neoplasm malignant", "narrow"), ("Teratoma", "broad"), ("Neoplasm", "broad")]),
    ("90000002", "Haematological malignant tumours (synthetic)", 2, "Leukaemias, lymphomas and myeloid neoplasms.",
     [(name, "narrow") for name, hlts in PTS.items() if hlts[0] in (
        "97001001", "97001002", "97001003", "97001010", "97001011", "97001012", "97001013", "97001014", "97001015")]),
    ("90000003", "Haematopoietic cytopenias (synthetic)", 1, "Reduced blood cell counts.",
     [("Neutropenia", "narrow"), ("Febrile neutropenia", "narrow"), ("Thrombocytopenia", "narrow"),
      ("Anaemia", "narrow"), ("Myelodysplastic syndrome", "broad")]),
    ("90000004", "Embolic and thrombotic events (synthetic)", 1, "Venous embolic and thrombotic events.",
     [("Deep vein thrombosis", "narrow"), ("Pulmonary embolism", "narrow")]),
]


def demo_term_codes() -> dict[str, str]:
    """PT name -> PT code, from demo_terms.csv (the cohort's terms) and the extra DME terms."""
    text = resources.files("pv_service.demo").joinpath("data/demo_terms.csv").read_text(encoding="utf-8")
    codes = {row["pt_name"]: row["pt_code"] for row in csv.DictReader(io.StringIO(text))}
    return {**codes, **EXTRA_PT_CODES}


def primary_soc_codes() -> dict[str, str]:
    """PT name -> its primary SOC code."""
    hlgt_soc = {c: s for c, _, s in HLGTS}
    hlt_hlgt = {c: g for c, _, g in HLTS}
    return {name: hlgt_soc[hlt_hlgt[hlts[0]]] for name, hlts in PTS.items()}


def _line(*fields) -> str:
    return "".join(f"{'' if f is None else f}$" for f in fields)


def files() -> dict[str, str]:
    """File name -> content of the distribution (MedAscii names, upper case as MSSO ships them)."""
    pt_code = demo_term_codes()
    missing = set(PTS) - set(pt_code)
    if missing:
        raise ValueError(f"no PT code for {sorted(missing)} in demo_terms.csv")
    soc = {c: (n, a) for c, n, a, _ in SOCS}
    hlgt = {c: (n, s) for c, n, s in HLGTS}
    hlt = {c: (n, g) for c, n, g in HLTS}
    legacy = [None] * 6
    primary_socs = primary_soc_codes()
    out: dict[str, list[str]] = {name: [] for name in (
        "meddra_release.asc", "soc.asc", "intl_ord.asc", "hlgt.asc", "soc_hlgt.asc", "hlt.asc", "hlgt_hlt.asc",
        "pt.asc", "hlt_pt.asc", "llt.asc", "mdhier.asc", "smq_list.asc", "smq_content.asc")}
    out["meddra_release.asc"].append(_line(VERSION, LANGUAGE, None, None, None))
    for code, name, abbrev, order in SOCS:
        out["soc.asc"].append(_line(code, name, abbrev, *legacy, None))
        out["intl_ord.asc"].append(_line(order, code))
    for code, (name, parent) in hlgt.items():
        out["hlgt.asc"].append(_line(code, name, *legacy, None))
        out["soc_hlgt.asc"].append(_line(parent, code))
    for code, (name, parent) in hlt.items():
        out["hlt.asc"].append(_line(code, name, *legacy, None))
        out["hlgt_hlt.asc"].append(_line(parent, code))
    for name, hlts in PTS.items():
        code = pt_code[name]
        primary_soc = primary_socs[name]
        out["pt.asc"].append(_line(code, name, None, primary_soc, *legacy, None))
        out["llt.asc"].append(_line(code, name, code, *legacy, "Y", None))
        for i, h in enumerate(hlts):
            g = hlt[h][1]
            s = hlgt[g][1]
            out["hlt_pt.asc"].append(_line(h, code))
            out["mdhier.asc"].append(_line(code, h, g, s, name, hlt[h][0], hlgt[g][0], soc[s][0], soc[s][1], None,
                                           primary_soc, "Y" if i == 0 else "N"))
    for code, name, pt, current in LLTS:
        out["llt.asc"].append(_line(code, name, pt_code[pt], *legacy, "Y" if current else "N", None))
    for code, name, level, description, content in SMQS:
        out["smq_list.asc"].append(_line(code, name, level, description, "Synthetic demo content", None, VERSION,
                                         "A", "N"))
        for term, scope in content:
            if isinstance(term, tuple):
                out["smq_content.asc"].append(_line(code, term[1], 0, 0, "A", 0, "A", VERSION, VERSION))
            else:
                out["smq_content.asc"].append(_line(code, pt_code[term], 4, 2 if scope == "narrow" else 1, "A", 0,
                                                    "A", VERSION, VERSION))
    return {name.upper().replace(".ASC", ".asc"): "\n".join(lines) + "\n" for name, lines in out.items()}


def directory() -> Path:
    """The shipped distribution directory (inside the installed package)."""
    return Path(str(resources.files("pv_service.demo").joinpath("data/meddra")))


def write(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (target / name).write_text(text, encoding="utf-8", newline="\n")


if __name__ == "__main__":
    write(directory() / "MedAscii")
