"""Fetch a row by id or answer 404: the same answer whether it is missing or not the caller's."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from pv_service.common.errors import NotFound

T = TypeVar("T")


def get_or_404(session: Session, model: type[T], row_id: int, message: str,
               visible: Callable[[T], bool] | None = None) -> T:
    """`visible`: a row that exists but fails it is answered like a missing one (no existence leak)."""
    row = session.get(model, row_id)
    if row is None or (visible is not None and not visible(row)):
        raise NotFound(message)
    return row
