"""Waiting with a bound without losing a cancellation, and loops that keep theirs.

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


def stop_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop and is still running.

    A loop that outlives its errors (`except Exception`, or a library's errors) must not outlive
    a cancellation: redis-py, cleaning up a cancelled call, can raise a connection error in its
    place, which such a loop then takes for an ordinary failure and runs on. Called once per
    round, it stops the loop as it was asked.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
