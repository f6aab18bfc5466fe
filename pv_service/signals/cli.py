"""Analyst CLI: ``pv-service signals compute INPUT.csv|INPUT.parquet -o OUT.csv ...``.

The input file is counted out of core by DuckDB (:mod:`.files`); only the pair counts
come into memory, so inputs far larger than RAM (FAERS-sized) can be analysed.

Mount with ``main_app.add_typer(signals_cli.app, name="signals")``; also runs as
``python -m pv_service.signals.cli compute ...``.

Exit codes: 0 success (also when no MGPS prior could be had: the EB columns are then
empty, HYPER.json says ``"converged": false`` with the reason, and a warning goes to
stderr; which prior was used, and why, is always printed on stderr);
2 unusable input (missing file, missing columns, no rows, bad strata, bad group file),
with a one-line message on stderr and no traceback.

Strata policy: stratum columns are categorical report attributes of any type (sex as
text, year as a number). Rejected: missing (empty) values - code unknowns explicitly,
e.g. "Not Available" - more than ``--max-strata-levels`` levels in one column
(continuous variables such as age must be banded first), and reports whose rows
disagree on a stratum value. Strata with fewer than 50 reports draw a warning.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .options import MAX_STRATUM_LEVELS, PARQUET_SUFFIXES

# The engine (numpy, pandas, scipy, DuckDB) loads when a command runs, not when the
# command line is built: `pv-service --help` and every other command mount this app,
# and importing the engine took 1.4 of the 2.4 s `pv-service signals --help` took.
if TYPE_CHECKING:
    import pandas as pd

    from .counts import PairCounts
    from .mgps import Prior

app = typer.Typer(help="Disproportionality analysis of spontaneous reports.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

REQUIRED_COLUMNS = ("report_id", "product", "event")
SMALL_STRATUM = 50


@app.callback()
def _group() -> None:
    """Disproportionality measures (PRR, ROR, IC, MGPS/EBGM) for product-event pairs."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _split(values: list[str] | None) -> list[str]:
    """Accept both ``--strata sex --strata age`` and ``--strata sex,age``."""
    out: list[str] = []
    for v in values or []:
        out.extend(part.strip() for part in v.split(",") if part.strip())
    return out


def read_rows(path: Path, strata: list[str]) -> pd.DataFrame:
    """The input rows in memory, as text (so ids such as 007 keep their zeros and names such
    as "NA" stay names; only empty fields count as missing): the MedDRA level route maps
    each row's PT to its terms at the level, so it needs the rows, not only their counts."""
    import pandas as pd

    from .counts import SignalInputError

    if not path.is_file():
        raise SignalInputError(f"input file not found: {path}")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            rows = pd.read_parquet(path).astype("string").replace("", pd.NA)
        else:
            rows = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise SignalInputError(f"input file is empty: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise SignalInputError(f"cannot read {path}: {exc}") from None
    missing = [c for c in (*REQUIRED_COLUMNS, *strata) if c not in rows.columns]
    if missing:
        raise SignalInputError(
            f"{path} lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, rows.columns))})")
    if len(rows) == 0:
        raise SignalInputError(f"{path} has a header but no rows")
    for col in (*REQUIRED_COLUMNS, *strata):
        n_missing = int(rows[col].isna().sum())
        if n_missing:
            raise SignalInputError(f"column '{col}' is empty on {n_missing} row(s)")
    return rows


def read_groups(path: Path) -> dict[str, list[str]]:
    """Event groups YAML: a mapping of group name to a list of terms, e.g.::

        T-cell malignancies:
          - T-cell lymphoma
          - Peripheral T-cell lymphoma unspecified
    """
    from pv_service.rules.loader import read_rule_file
    from pv_service.rules.marked_yaml import YamlProblem, load_marked

    from .counts import SignalInputError, invert_groups

    if not path.is_file():
        raise SignalInputError(f"groups file not found: {path}")
    # The rules' reader: bounded size, UTF-8 checked, alias bombs and huge numbers refused, all with file:line.
    _, text, problem = read_rule_file(path)
    if problem is not None:
        raise SignalInputError(str(problem))
    try:
        data, _ = load_marked(text)
    except YamlProblem as exc:
        raise SignalInputError(f"{path}:{exc.mark.line}:{exc.mark.column}: {exc.message}") from None
    if not isinstance(data, dict) or not data:
        raise SignalInputError(f"{path} must map group names to lists of terms")
    for group, terms in data.items():
        if isinstance(terms, str):
            continue
        if not isinstance(terms, list) or not terms or not all(isinstance(t, (str, int)) for t in terms):
            raise SignalInputError(f"{path}: group {group!r} must list one or more terms")
    return invert_groups(data)


def read_prior(path: Path) -> Prior:
    """A prior from JSON as ``--hyper-out`` writes it (alpha1, beta1, alpha2, beta2, p;
    a point-mass component as ``mean1``/``mean2`` listed in ``point_masses``)."""
    from .counts import SignalInputError
    from .mgps import Prior

    if not path.is_file():
        raise SignalInputError(f"prior file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignalInputError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict) and data.get("converged") is False:
        raise SignalInputError(f"{path} holds no usable prior (the run it came from had none: "
                               f"{data.get('reason') or data.get('message') or 'not converged'})")
    try:
        return Prior.from_dict(data, where=str(path))
    except ValueError as exc:
        raise SignalInputError(str(exc)) from None


def _warn_small_strata(counts: PairCounts) -> None:
    small = int((counts.stratum_total < SMALL_STRATUM).sum())
    if small:
        typer.echo(f"warning: {small} stratum/strata have fewer than {SMALL_STRATUM} "
                   "reports; their expected counts are unstable", err=True)


def write_table(table: pd.DataFrame, path: Path) -> None:
    """The measures table as CSV, or as Parquet when the name ends in .parquet/.pq."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)


def _jsonable(obj):
    """Plain JSON: numpy scalars to Python, non-finite floats to null."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


@app.command("compute")
def compute(
    input_csv: Annotated[Path, typer.Argument(
        metavar="INPUT", help="CSV (or .parquet/.pq) with report_id, product, event [, strata].")],
    output: Annotated[Path, typer.Option("-o", "--output",
                                         help="Output of measures: CSV, or Parquet if named .parquet.")],
    strata: Annotated[Optional[list[str]], typer.Option(
        "--strata", help="Stratum column (repeat, or comma-separate).")] = None,
    min_count: Annotated[int, typer.Option("--min-count", min=1,
                                           help="Drop pairs with fewer reports from the output.")] = 1,
    hyper_out: Annotated[Optional[Path], typer.Option(
        "--hyper-out", help="Write the MGPS hyperparameters to this JSON file.")] = None,
    groups: Annotated[Optional[Path], typer.Option(
        "--groups", help="YAML of event groups: group name -> list of terms.")] = None,
    comparator: Annotated[Optional[list[str]], typer.Option(
        "--comparator", help="Restrict the background to these products (repeat).")] = None,
    max_strata_levels: Annotated[int, typer.Option(
        "--max-strata-levels", min=1, help="Most levels allowed in one stratum column.")] = MAX_STRATUM_LEVELS,
    truncation: Annotated[str, typer.Option(
        "--truncation", help="MGPS zero truncation: 'mixture' or 'component' (openEBGM).")] = "mixture",
    progress: Annotated[Optional[bool], typer.Option(
        "--progress/--no-progress", help="Progress bar on stderr (default: when a terminal).")] = None,
    level: Annotated[str, typer.Option(
        "--level", help="MedDRA level of the events: pt, hlt, hlgt, soc or smq (events are then PT codes).")] = "pt",
    paths: Annotated[str, typer.Option(
        "--paths", help="hlt/hlgt/soc: the PT's primary path only, or all its paths.")] = "primary",
    scope: Annotated[str, typer.Option("--scope", help="smq: narrow, or broad (narrow and broad terms).")] = "narrow",
    meddra: Annotated[Optional[Path], typer.Option(
        "--meddra", help="MedDRA ASCII distribution directory to count with.")] = None,
    meddra_version: Annotated[Optional[str], typer.Option(
        "--meddra-version", help="Count with this version loaded in the database instead.")] = None,
    prior: Annotated[Optional[Path], typer.Option(
        "--prior", help="Use this MGPS prior (JSON as --hyper-out writes it) instead of fitting one.")] = None,
    fallback_prior: Annotated[Optional[Path], typer.Option(
        "--fallback-prior", help="MGPS prior to use only when the fit is not identifiable.")] = None,
    memory_limit: Annotated[Optional[str], typer.Option(
        "--memory-limit", help="Cap on the counting engine's memory, e.g. 3GB (it spills to disk beyond).")] = None,
) -> None:
    """Compute PRR, ROR, IC and MGPS (EBGM, EB05, EB95) for every product-event pair."""
    import numpy as np

    from .compute import compute_from_counts
    from .counts import SignalInputError
    from .files import count_file
    from .levels import Level, cli_distribution, compute_at_level

    strata_cols = _split(strata)
    if truncation not in ("mixture", "component"):
        raise _fail("--truncation must be 'mixture' or 'component'")
    try:
        at = Level(level, paths, scope)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        priors = {"prior": read_prior(prior) if prior is not None else None,
                  "prior_origin": prior.name if prior is not None else None,
                  "fallback_prior": read_prior(fallback_prior) if fallback_prior is not None else None,
                  "fallback_origin": fallback_prior.name if fallback_prior is not None else None}
        dictionary = cli_distribution(meddra, meddra_version, at)
        if dictionary is not None:
            if groups is not None:
                raise SignalInputError("--groups counts PT-name groups; it does not combine with a MedDRA level")
            result = compute_at_level(read_rows(input_csv, strata_cols), dictionary, at, strata=strata_cols,
                                      comparator=_split(comparator) or None, max_stratum_levels=max_strata_levels,
                                      min_count=min_count, truncation=truncation, progress=progress, **priors)
        else:
            term_groups = read_groups(groups) if groups is not None else None
            counts = count_file(input_csv, strata=strata_cols, groups=term_groups,
                                comparator=_split(comparator) or None,
                                max_stratum_levels=max_strata_levels, memory_limit=memory_limit)
            result = compute_from_counts(counts, min_count=min_count, truncation=truncation,
                                         progress=progress, **priors)
    except SignalInputError as exc:
        raise _fail(str(exc)) from None
    if strata_cols:
        _warn_small_strata(counts)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_table(result.table, output)
        if hyper_out is not None:
            hyper = result.prior.to_dict()
            if result.fit is not None:
                hyper["starts"] = result.fit.to_dict()["starts"]
            hyper_out.parent.mkdir(parents=True, exist_ok=True)
            hyper_out.write_text(json.dumps(_jsonable(hyper), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write output: {exc}") from None
    typer.echo(("warning: " if result.prior.prior is None else "MGPS: ") + result.prior.summary,
               err=True)
    n_pairs = len(result.table)
    n_flag = int(np.sum(result.table["eb05"].to_numpy() >= 2)) if n_pairs else 0
    typer.echo(f"{n_pairs} pairs written to {output} ({n_flag} with EB05 >= 2)", err=True)


if __name__ == "__main__":
    app()
