"""Readiness: can each enabled provider be reached right now? One cheap call each.

/readyz needs no credentials, so its answer is shared: concurrent checks wait for one round of
probes, and a round's answer serves for FRESH_SECONDS, so no rate of /readyz requests becomes
more than one upstream call per provider per second. Probes skip the providers' concurrency
queues, so a busy gateway does not look like a failing upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.core.errors import UpstreamError
from app.core.records import Provider
from app.upstream import request_deadline
from app.upstream.endpoint import UNQUEUED
from app.upstream.upstreams import Upstreams

PROBE_SECONDS = 2.0
FRESH_SECONDS = 1.0


class Readiness:
    """The shared readiness answer of one app."""

    def __init__(self, upstreams: Upstreams) -> None:
        self._upstreams = upstreams
        self._round: asyncio.Task[dict[str, dict[str, Any]]] | None = None
        self._finished = 0.0

    async def check(self) -> dict[str, dict[str, Any]]:
        """The latest round's answer if fresh, else a new round (shared by concurrent callers)."""
        loop = asyncio.get_running_loop()
        fresh = loop.time() - self._finished < FRESH_SECONDS
        if self._round is None or (self._round.done() and not fresh):
            self._round = loop.create_task(self._probe())
        return await asyncio.shield(self._round)

    async def _probe(self) -> dict[str, dict[str, Any]]:
        try:
            return await check(self._upstreams)
        finally:
            self._finished = asyncio.get_running_loop().time()


async def check(upstreams: Upstreams) -> dict[str, dict[str, Any]]:
    """Per enabled provider: ready or not, the latency, and the error code when not."""
    request_deadline.start(PROBE_SECONDS)
    UNQUEUED.set(True)

    async def one(provider: Provider, probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await probe()
        except UpstreamError as exc:
            latency = round((time.perf_counter() - started) * 1000, 1)
            if provider in upstreams.forwarded and exc.code == "UPSTREAM_UNAUTHORIZED":
                # Callers bring the credential; without one, reachability is all we can know.
                return {"ready": True, "latencyMs": latency, "note": "credential forwarded"}
            return {"ready": False, "latencyMs": latency, "code": exc.code}
        return {"ready": True, "latencyMs": round((time.perf_counter() - started) * 1000, 1)}

    probes = {p: given.probe for p, given in upstreams.providers.items()}
    results = await asyncio.gather(*(one(p, probe) for p, probe in probes.items()))
    return {p.value: result for p, result in zip(probes, results, strict=True)}
