"""Shared field types for API parameters and bodies."""
from __future__ import annotations

from typing import Annotated

from annotated_types import Interval

# Row ids are 32-bit on PostgreSQL (INTEGER): larger numbers cannot name a row, and
# would otherwise reach the database as an out-of-range parameter.
MAX_DB_INT = 2_147_483_647
DbId = Annotated[int, Interval(ge=1, le=MAX_DB_INT)]
Count = Annotated[int, Interval(ge=0, le=MAX_DB_INT)]
