"""Made-up MedDRA dictionaries written in the exact ASCII layout of a distribution (MedAscii/*.asc).

The terms and codes are synthetic (9xxxxxxx, outside MedDRA's 10000000 range). `SMALL`:
- PT 90000301 "T-cell lymphoma" is multi-axial: primary under SOC 90000002 (Neoplasms),
  secondary under SOC 90000001 (Blood);
- LLT 90000401 "T cell lymphoma NOS" is not current;
- SMQ 90000501 (level 1) contains SMQ 90000502 (level 2) and, inactive, PT 90000302.
"""
from __future__ import annotations

import copy
from pathlib import Path

SMALL = {
    "version": "90.0",
    "socs": {"90000001": ("Blood and lymphatic system disorders (synthetic)", "Blood"),
             "90000002": ("Neoplasms (synthetic)", "Neopl"),
             "90000003": ("Immune system disorders (synthetic)", "Immun")},
    "hlgts": {"90000101": "Haematology HLGT", "90000102": "Lymphomas HLGT", "90000103": "Immune HLGT"},
    "hlts": {"90000201": "Neutropenias and lymphomas HLT", "90000202": "T-cell lymphomas HLT",
             "90000203": "Cytokine release HLT"},
    "pts": {"90000301": "T-cell lymphoma", "90000302": "Cytokine release syndrome", "90000303": "Neutropenia"},
    # (pt, hlt, hlgt, soc, primary)
    "paths": [("90000301", "90000202", "90000102", "90000002", True),
              ("90000301", "90000201", "90000101", "90000001", False),
              ("90000302", "90000203", "90000103", "90000003", True),
              ("90000303", "90000201", "90000101", "90000001", True)],
    # code: (name, pt, current)
    "llts": {"90000301": ("T-cell lymphoma", "90000301", True),
             "90000401": ("T cell lymphoma NOS", "90000301", False),
             "90000302": ("Cytokine release syndrome", "90000302", True),
             "90000402": ("CRS", "90000302", True),
             "90000303": ("Neutropenia", "90000303", True),
             "90000403": ("Neutrophil count décreased", "90000303", True)},
    # code: (name, level)
    "smqs": {"90000501": ("Haematological malignancies (synthetic SMQ)", 1),
             "90000502": ("Lymphomas (synthetic SMQ)", 2)},
    # (smq, term, term_level 0/4/5, scope 0/1/2, status A/I)
    "smq_content": [("90000502", "90000301", 4, 2, "A"),
                    ("90000502", "90000403", 5, 1, "A"),
                    ("90000501", "90000502", 0, 0, "A"),
                    ("90000501", "90000303", 4, 1, "A"),
                    ("90000501", "90000302", 4, 2, "I")],
}


def variant(**changes) -> dict:
    spec = copy.deepcopy(SMALL)
    spec.update(changes)
    return spec


def _line(fields, trailing: bool) -> str:
    return "$".join(str(f) for f in fields) + ("$" if trailing else "")


def files(spec: dict) -> dict[str, list[list]]:
    socs, hlgts, hlts, pts = spec["socs"], spec["hlgts"], spec["hlts"], spec["pts"]
    primary = {p[0]: p[3] for p in spec["paths"] if p[4]}
    leg = [""] * 6
    out = {
        "llt.asc": [[c, n, pt, *leg, "Y" if cur else "N", ""] for c, (n, pt, cur) in spec["llts"].items()],
        "pt.asc": [[c, n, "", primary.get(c, ""), *leg, ""] for c, n in pts.items()],
        "hlt.asc": [[c, n, *leg, ""] for c, n in hlts.items()],
        "hlgt.asc": [[c, n, *leg, ""] for c, n in hlgts.items()],
        "soc.asc": [[c, n, a, *leg, ""] for c, (n, a) in socs.items()],
        "hlt_pt.asc": sorted({(p[1], p[0]) for p in spec["paths"]}),
        "hlgt_hlt.asc": sorted({(p[2], p[1]) for p in spec["paths"]}),
        "soc_hlgt.asc": sorted({(p[3], p[2]) for p in spec["paths"]}),
        "mdhier.asc": [[pt, hlt, hlgt, soc, pts[pt], hlts[hlt], hlgts[hlgt], socs[soc][0], socs[soc][1], "",
                        primary.get(pt, ""), "Y" if prim else "N"] for pt, hlt, hlgt, soc, prim in spec["paths"]],
        "intl_ord.asc": [[i, c] for i, c in enumerate(socs, start=1)],
        "smq_list.asc": [[c, n, lvl, f"{n}: synthetic", "test", "", spec["version"], "A", "N"]
                         for c, (n, lvl) in spec["smqs"].items()],
        "smq_content.asc": [[s, t, lvl, scope, "A", 0, st, spec["version"], spec["version"]]
                            for s, t, lvl, scope, st in spec["smq_content"]],
        "meddra_release.asc": [[spec["version"], "English", "", "", ""]],
    }
    return {k: [list(r) for r in v] for k, v in out.items()}


def write(root: Path, spec: dict | None = None, *, trailing: bool = True, upper: bool = False,
          final_newline: bool = True, overrides: dict[str, str] | None = None, omit: tuple[str, ...] = ()) -> Path:
    """Write the distribution under root/MedAscii; `overrides` replaces a file's whole text."""
    folder = Path(root) / "MedAscii"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files(spec or SMALL).items():
        if name in omit:
            continue
        text = (overrides or {}).get(name)
        if text is None:
            text = "\n".join(_line(r, trailing) for r in rows) + ("\n" if final_newline and rows else "")
        (folder / (name.upper().replace(".ASC", ".asc") if upper else name)).write_bytes(
            text.encode() if isinstance(text, str) else text)
    return Path(root)


def next_version() -> dict:
    """SMALL's successor 90.1: LLT 90000402 "CRS" moves to PT 90000303; LLT 90000403 is no longer current;
    PT 90000301's primary SOC becomes 90000001 (Blood, its secondary path in 90.0); PT 90000303 renamed."""
    spec = variant(version="90.1")
    spec["llts"]["90000402"] = ("CRS", "90000303", True)
    spec["llts"]["90000403"] = ("Neutrophil count décreased", "90000303", False)
    spec["pts"]["90000303"] = "Neutropenia (all grades)"
    spec["paths"] = [("90000301", "90000202", "90000102", "90000002", False),
                     ("90000301", "90000201", "90000101", "90000001", True),
                     *SMALL["paths"][2:]]
    return spec
