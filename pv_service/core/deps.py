"""Request-level dependencies shared by routers."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request

from pv_service.core.clock import Clock, utc_now


# Async because they do no I/O: a sync dependency costs a hop through the thread pool.
def clock_of(request: Request) -> Clock:
    return getattr(request.app.state, "clock", utc_now)


async def get_clock(request: Request) -> Clock:
    return clock_of(request)


async def get_now(clock: Annotated[Clock, Depends(get_clock)]) -> dt.datetime:
    return clock()


Now = Annotated[dt.datetime, Depends(get_now)]
