"""LoopLag: how late the event loop runs its callbacks, to tell a slow upstream from a busy gateway.

A call cut by the request deadline after the upstream held it for `slow_call` seconds counts
against the upstream, unless the loop itself fell that far behind meanwhile: then the answer may
well have arrived and waited unread, and the time is the gateway's, not the upstream's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from collections.abc import AsyncIterator

TICK = 0.1  # seconds between probes of the loop
KEEP = 30.0  # seconds of history


class LoopLag:
    """Lateness of a callback scheduled every TICK seconds, kept for KEEP seconds."""

    def __init__(self) -> None:
        self._ticks: collections.deque[tuple[float, float]] = collections.deque()
        self._due: float | None = None

    def note(self, due: float, now: float) -> None:
        """A tick due at `due` ran at `now`."""
        self._ticks.append((now, now - due))
        while self._ticks and self._ticks[0][0] < now - KEEP:
            self._ticks.popleft()

    def worst_since(self, since: float, now: float) -> float:
        """The most the loop was behind at any moment from `since` (loop time) to `now`."""
        worst = max((lag for at, lag in self._ticks if at >= since), default=0.0)
        if self._due is not None:
            worst = max(worst, now - self._due)  # a tick still waiting is late right now
        return worst

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopLag]:
        """Probe the current loop until the block ends."""
        loop = asyncio.get_running_loop()

        async def probe() -> None:
            while True:
                self._due = loop.time() + TICK
                await asyncio.sleep(TICK)
                self.note(self._due, loop.time())

        task = loop.create_task(probe())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._due = None


class _PerLoop:
    """One LoopLag per event loop (tests run several apps, each on a loop of its own)."""

    def __init__(self) -> None:
        self._lags: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag] = (
            weakref.WeakKeyDictionary()
        )

    def _current(self) -> LoopLag:
        loop = asyncio.get_running_loop()
        found = self._lags.get(loop)
        if found is None:
            found = self._lags[loop] = LoopLag()
        return found

    def running(self) -> contextlib.AbstractAsyncContextManager[LoopLag]:
        """Probe the running loop until the block ends."""
        return self._current().running()

    def worst_since(self, since: float, now: float) -> float:
        """The running loop's worst lateness from `since` to `now` (0 when not probed)."""
        return self._current().worst_since(since, now)


# The Deadline call layer consults it; the app's lifespan runs it.
LAG = _PerLoop()
