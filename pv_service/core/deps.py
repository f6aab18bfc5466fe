"""Request-level dependencies shared by routers."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request

from pv_service.core.clock import Clock, utc_now


def get_clock(request: Request) -> Clock:
    return getattr(request.app.state, "clock", utc_now)


def get_now(clock: Annotated[Clock, Depends(get_clock)]) -> dt.datetime:
    return clock()


Now = Annotated[dt.datetime, Depends(get_now)]
