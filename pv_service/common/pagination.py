"""Stable cursor pagination: items ordered by id, the cursor names the last id seen."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select

from pv_service.common.errors import InvalidInput
from pv_service.common.types import MAX_DB_INT

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after_id: int | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


# Our cursors are a few dozen characters; anything longer is not one (and is not parsed).
MAX_CURSOR_LENGTH = 100


def _cursor_value(cursor: str, key: str) -> int:
    """The row id / offset in a cursor this API made: an int in 0..MAX_DB_INT, else a 422."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        value = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))[key]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DB_INT:
            return value
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        pass
    raise InvalidInput.one(("query", "cursor"), "not a cursor returned by this API")


def decode_cursor(cursor: str) -> int:
    return _cursor_value(cursor, "after")


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(session, stmt: Select, id_column, params: PageParams) -> tuple[list, str | None]:
    """Run stmt one page at a time; returns rows and the cursor of the next page."""
    if params.after_id is not None:
        stmt = stmt.where(id_column > params.after_id)
    rows = list(session.exec(stmt.order_by(id_column).limit(params.limit + 1)).all())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    if not more or not rows:
        return rows, None
    last = rows[-1]
    last_id = last.id if hasattr(last, "id") else last[0].id
    return rows, encode_cursor(last_id)


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    """Cursor for lists sorted by a value rather than id (stable where rows do not change order)."""
    return 0 if cursor is None else _cursor_value(cursor, "offset")


def offset_page(session, stmt: Select, offset: int, limit: int) -> tuple[list, str | None]:
    rows = list(session.exec(stmt.offset(offset).limit(limit + 1)).all())
    return rows[:limit], encode_offset(offset + limit) if len(rows) > limit else None
