"""Plausibility of a treatment: pure functions, no database."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pv_service.common.errors import FieldProblem


def infusion_problems(infusion: dt.date, approvals: Iterable[tuple[str, dt.date]]) -> list[FieldProblem]:
    """This service follows products after their approval: an infusion before the first approval
    in any jurisdiction (clinical-trial use) does not belong here. `approvals`: (jurisdiction, date).
    A product with no approval recorded yet is not judged."""
    first = min(approvals, key=lambda a: (a[1], a[0]), default=None)
    if first is None or infusion >= first[1]:
        return []
    return [FieldProblem(("body", "infusion_date"),
                         f"is before the product's first approval ({first[0]}, {first[1].isoformat()})",
                         "before_approval")]
