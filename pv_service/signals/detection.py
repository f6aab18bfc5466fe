"""Which pairs of a statistics run become signal alerts (pure rules over the measures table)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pv_service.rules.signal_rules import SignalRules


def criteria_hits(table: pd.DataFrame, rules: SignalRules) -> pd.DataFrame:
    """One boolean column per criterion: does the pair meet it? Undefined measures never do."""
    out = {}
    for c in rules.criteria:
        ok = np.ones(len(table), dtype=bool)
        for measure, minimum in c.minimum.items():
            values = pd.to_numeric(table[measure], errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                ok &= (values > minimum) if measure in c.strict else (values >= minimum)
        out[c.name] = ok
    return pd.DataFrame(out, index=table.index)


def flag_pairs(table: pd.DataFrame, rules: SignalRules) -> pd.DataFrame:
    """The pairs the rules flag, with the criteria each one met (`criteria_met`)."""
    hits = criteria_hits(table, rules)
    n_ok = pd.to_numeric(table["n"]).to_numpy() >= rules.min_count
    flagged = (hits.sum(axis=1).to_numpy() >= rules.required_hits()) & n_ok
    result = table.loc[flagged].copy()
    names = hits.columns.to_numpy()
    result["criteria_met"] = [list(names[row]) for row in hits.loc[flagged].to_numpy()]
    return result


def should_reopen(n_now: int, n_at_close: int | None, *, min_new_cases: int, growth_factor: float,
                  designated: bool, dme_any_new_case: bool) -> bool:
    """A closed alert reopens only on clearly changed evidence (alerts/signal_rules.yaml `reopen`)."""
    if n_at_close is None:
        return False
    if designated and dme_any_new_case:
        return n_now > n_at_close
    return n_now >= n_at_close + min_new_cases and n_now >= growth_factor * n_at_close
