"""A webhook receiver on loopback: verifies each delivery with the standardwebhooks library and
answers from a plan (fail the first deliveries, then accept), in a thread of its own."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"receiver-test-secret-32-bytes!!!").decode()
# Plan steps: an HTTP status, "hang" (never answers), "close" (drops the connection), or
# "retry-after" (503 with Retry-After: 1).
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Received:
    id: str
    type: str
    session: str
    at: float  # monotonic time it arrived
    payload: dict[str, Any]


class Receiver:
    """`plan` answers the first requests in turn; after it, `then` answers every request."""

    def __init__(self, plan: list[str | int] | None = None, then: str | int = 204) -> None:
        self.plan = list(plan or [])
        self.then: str | int = then
        self.requests: list[Received] = []  # every verified request, in arrival order
        self.accepted: list[Received] = []  # those answered 2xx
        self.bad_signatures = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()
        self.url = ""

    def __enter__(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks?token=query-secret"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload = Webhook(SECRET).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400)
        received = Received(
            request.headers["webhook-id"],
            payload["type"],
            payload["data"]["id"],
            time.monotonic(),
            payload,
        )
        with self._lock:
            self.requests.append(received)
            step = self.plan.pop(0) if self.plan else self.then
        if step == "hang":
            await asyncio.sleep(3600)
        if step == "close":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        if step == "retry-after":
            return web.Response(status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        assert isinstance(step, int)
        if 200 <= step < 300:
            with self._lock:
                self.accepted.append(received)
        return web.Response(status=step)

    def unique(self) -> dict[str, Received]:
        """Accepted deliveries deduplicated by webhook-id, first arrival kept."""
        with self._lock:
            found: dict[str, Received] = {}
            for received in self.accepted:
                found.setdefault(received.id, received)
            return found

    def wait(self, done: Callable[[Receiver], bool], timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not done(self):
            if time.monotonic() > end:
                shown = json.dumps([(d.type, d.session) for d in self.accepted])
                raise AssertionError(f"receiver still waiting; accepted so far: {shown}")
            time.sleep(0.05)
