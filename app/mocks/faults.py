"""Fault injection for the mock upstreams: errors, slowness, bad bodies and dropped connections.

A plan is set from any thread (tests often drive a server loop running elsewhere) and applied
by `fault_middleware`, which each mock installs right inside `record_calls`, so faulted
requests are still recorded.
"""

from __future__ import annotations

import asyncio
import enum
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = [
    "FAULT",
    "HANG_SECONDS",
    "ErrorShape",
    "Fault",
    "FaultPlan",
    "FaultState",
    "fault_middleware",
    "install_faults",
]

# Longer than any client timeout; a hang ends when the client or the server gives up.
HANG_SECONDS = 3600.0


class Fault(enum.Enum):
    """What a faulted request gets instead of its normal answer."""

    HANG = "hang"  # no answer until the client disconnects or the server stops
    SLOW = "slow"  # the normal answer after `FaultPlan.delay` seconds
    SERVER_ERROR = "server_error"  # 500 in the provider's error shape
    UNAVAILABLE = "unavailable"  # 503 in the provider's error shape
    RATE_LIMITED = "rate_limited"  # 429 in the provider's error shape, with Retry-After
    UNAUTHORIZED = "unauthorized"  # 401 exactly as the provider rejects a bad credential
    TRUNCATED = "truncated"  # 200 application/json with the first half of the real body
    WRONG_SHAPE = "wrong_shape"  # 200 with valid JSON the client does not expect
    DISCONNECT = "disconnect"  # the connection is closed without any HTTP response


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A fault, the requests it applies to and its parameters."""

    fault: Fault
    times: int | None = None  # the next N matching requests; None: until cleared
    delay: float = 2.0  # seconds, for SLOW
    retry_after: int = 1  # seconds, the Retry-After header of RATE_LIMITED
    paths: tuple[str, ...] = ()  # path prefixes the fault is limited to; empty: every path

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 0:
            raise ValueError(f"times must be None or at least 0, got {self.times}")
        if self.delay < 0:
            raise ValueError(f"delay must not be negative, got {self.delay}")
        if self.retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {self.retry_after}")

    def applies_to(self, path: str) -> bool:
        """Whether a request for `path` is in scope."""
        return not self.paths or path.startswith(self.paths)


class FaultState:
    """The plan of one mock app: swapped from any thread, consumed on the server's loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: FaultPlan | None = None
        self._left: int | None = None
        # Requests currently held by HANG; only touched on the server's loop.
        self.hanging: set[asyncio.Task[Any]] = set()

    @property
    def plan(self) -> FaultPlan | None:
        """The plan in force, if any."""
        return self._plan

    @property
    def left(self) -> int | None:
        """How many more requests the plan applies to; None: until cleared."""
        return self._left

    def set(self, plan: FaultPlan | None) -> None:
        """Put `plan` in force for the following requests; None clears it."""
        with self._lock:
            if plan is not None and plan.times == 0:
                plan = None
            self._plan = plan
            self._left = plan.times if plan is not None else None

    def take(self, path: str) -> FaultPlan | None:
        """The plan for a request to `path`, counted against `times`; None: answer normally."""
        with self._lock:
            plan = self._plan
            if plan is None or not plan.applies_to(path):
                return None
            if self._left is not None:
                self._left -= 1
                if self._left == 0:
                    self._plan, self._left = None, None
            return plan

    def release_hangs(self) -> None:
        """Cancel every request held by HANG, closing its connection."""
        for task in list(self.hanging):
            task.cancel()


FAULT = web.AppKey("fault", FaultState)


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How one provider renders the errors that faults answer with."""

    error: Callable[[int], web.Response]  # a 429, 500 or 503 in the provider's error body
    unauthorized: Callable[[web.Request], web.Response]  # the provider's own 401


async def _release_hangs(app: web.Application) -> None:
    # aiohttp waits up to its shutdown timeout (60 s) for running handlers before cancelling.
    app[FAULT].release_hangs()


def install_faults(app: web.Application) -> None:
    """Give `app` an empty fault state, released when the app shuts down."""
    app[FAULT] = FaultState()
    app.on_shutdown.append(_release_hangs)


async def _hang(state: FaultState) -> None:
    task = asyncio.current_task()
    assert task is not None  # aiohttp runs every handler in a task
    state.hanging.add(task)
    try:
        await asyncio.sleep(HANG_SECONDS)
    finally:
        state.hanging.discard(task)


async def _real_body(request: web.Request, handler: Handler) -> bytes:
    response = await handler(request)
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b""


def _wrong_shape(body: bytes) -> Any:
    try:
        real = json.loads(body) if body.strip() else None
    except ValueError:
        real = None
    return {"unexpected": []} if isinstance(real, dict) else "unexpected"


def _disconnect(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    # Never sent: aiohttp treats the failed write as a premature disconnection, quietly.
    return web.Response(status=204)


def fault_middleware(shape: ErrorShape) -> Middleware:
    """A middleware applying the plan in `request.app[FAULT]`, rendering errors per `shape`."""

    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        plan = request.app[FAULT].take(request.path)
        if plan is None:
            return await handler(request)
        match plan.fault:
            case Fault.HANG:
                await _hang(request.app[FAULT])
                return await handler(request)
            case Fault.SLOW:
                await asyncio.sleep(plan.delay)
                return await handler(request)
            case Fault.SERVER_ERROR:
                return shape.error(500)
            case Fault.UNAVAILABLE:
                return shape.error(503)
            case Fault.RATE_LIMITED:
                response = shape.error(429)
                response.headers["Retry-After"] = str(plan.retry_after)
                return response
            case Fault.UNAUTHORIZED:
                return shape.unauthorized(request)
            case Fault.TRUNCATED:
                body = await _real_body(request, handler)
                half = body[: len(body) // 2]
                return web.Response(body=half, content_type="application/json", charset="utf-8")
            case Fault.WRONG_SHAPE:
                return web.json_response(_wrong_shape(await _real_body(request, handler)))
            case Fault.DISCONNECT:
                return _disconnect(request)

    return inject_faults
