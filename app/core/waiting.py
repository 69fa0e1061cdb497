"""Waiting with a bound without losing a cancellation.

On Python 3.11, `asyncio.wait_for` returns the awaited result when its task is cancelled in the
same turn of the loop as that result arrives: the cancellation is lost, and a loop told to stop
(a deliverer, a poller at shutdown) runs on. `asyncio.timeout` keeps it, so the gateway waits
with that; ruff's banned-api rule keeps `wait_for` out.
"""

from __future__ import annotations

import asyncio
import contextlib


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
            return True
    return False
