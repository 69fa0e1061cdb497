"""Serving under uvicorn: its configuration, and the limits each connection must keep to."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import gc
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from starlette.datastructures import Headers
from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors.multiprocess import Multiprocess
from websockets.server import ServerProtocol

from app.http.drain import DRAIN, DRAIN_SIGNAL, END_STREAMS_SIGNAL
from app.http.media import JSON, negotiate
from app.settings import Settings
from resolvers.engine.internals import seam

# The collector's thresholds for a gateway process (Python's own: 700, 10, 10). A request
# allocates thousands of short-lived containers, and the requests in flight keep theirs alive,
# so at 700 net allocations a young collection ran about every other request and walked all
# of them, and the older generations followed. Refcounting frees nearly everything a request
# leaves; the few cycles it leaves now wait longer for a collection. bench/collector.py measures
# what collections cost per request at each threshold (docs/performance.md has the figures).
GC_THRESHOLDS = (20_000, 10, 10)

# Seconds a refused connection keeps reading (and dropping) what the client still sends, so
# the client reads the refusal instead of a reset; nginx calls this a lingering close.
LINGER = 1.0

# Seconds a client refused for load is told to wait before it retries.
RETRY_AFTER_SECONDS = 1

# The ASGI scope extension of a WebSocket served by GatewayWebSocketProtocol: the app calls its
# `authenticated` once connection_init has authenticated the caller, which raises the frame
# limit from GATEWAY_WEBSOCKET_INIT_MAX_BYTES to GATEWAY_MAX_BODY_BYTES.
FRAME_LIMIT = "gateway.websocket.frame_limit"

# GatewayProtocol overrides these uvicorn methods, checked (`PROTOCOLS`) when a server is
# configured so that a uvicorn release without them stops start-up rather than serving without
# limits: these are limits, not a shortcut, so GATEWAY_FAST_PATH does not turn them off. It also
# reads uvicorn internals (`cycle` and its `response_started`, `response_complete`,
# `disconnected`, `message_event`; `pipeline`; `server_state.default_headers`;
# `limit_concurrency`, `connections`, `tasks`), which tests/http/test_transport.py exercises.
_HOOKS = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_message_complete",
    "handle_websocket_upgrade",
)
# Likewise for GatewayWebSocketProtocol, which also sets the `max_message_size` of its
# websockets ServerProtocol (`conn`) and adds to its `scope` (tests/http/test_websocket_limits.py).
_WS_HOOKS = ("connection_made", "connection_lost", "run_asgi")
# And for DrainingServer, which also appends to uvicorn.Server's `_captured_signals` (without it
# the process exits 0 rather than by the signal).
_SERVER_HOOKS = ("handle_exit", "on_tick", "shutdown")
# And for DrainingSupervisor, which reads Multiprocess's `processes` and `should_exit`.
_SUPERVISOR_HOOKS = ("handle_term", "keep_subprocess_alive")


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """How large a request head may be, and how long its head and its body may take."""

    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> TransportLimits:
        return cls(settings.max_header_bytes, settings.header_timeout, settings.body_timeout)


class WebSocketSlots:
    """How many WebSockets a server process has open, and how many it accepts.

    One instance is shared by a server's HTTP protocol, which refuses an upgrade when the
    slots are full, and its WebSocket protocol, which takes a slot while its socket is open.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    @property
    def full(self) -> bool:
        return self.open >= self.limit


class _Wait(enum.Enum):
    """What a connection is waiting for from its client."""

    IDLE = enum.auto()  # the first byte on a new connection
    HEAD = enum.auto()  # the rest of a request head
    BODY = enum.auto()  # the rest of a request body
    NONE = enum.auto()  # nothing: the app answers, then uvicorn's keep-alive timer runs
    GONE = enum.auto()  # nothing more: the connection was refused and is closing


class GatewayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a head size limit and head, body and idle timeouts."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: TransportLimits,
        websockets: WebSocketSlots,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._websockets = websockets
        self._keepalive = float(config.timeout_keep_alive)
        self._wait = _Wait.IDLE
        self._changed = False  # `_wait` changed since its timer was set
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._socket: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._socket = transport
        self._set_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._wait is _Wait.GONE:
            return
        if self._wait is not _Wait.BODY:
            self._enter(_Wait.HEAD)
        limit = self._limits.max_header_bytes
        # httptools holds a header in memory until its line ends, so a head is fed to it no
        # further than the limit. A pipelined head that follows a body within one read goes
        # uncounted: the excess is bounded by one read (256 KB).
        while self._wait is not _Wait.BODY and self._head_bytes + len(data) > limit:
            room = limit - self._head_bytes
            if room <= 0:
                self._refuse(
                    431, f"Request headers are larger than {limit} bytes.", "HEADERS_TOO_LARGE"
                )
                return
            self._head_bytes = limit
            if not self._feed(data[:room]):
                return
            data = data[room:]
        if data:
            if self._wait is not _Wait.BODY:
                self._head_bytes += len(data)
            if not self._feed(data):
                return
        if self._changed:
            self._set_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._enter(_Wait.HEAD)

    def on_headers_complete(self) -> None:
        cycle = self.cycle
        super().on_headers_complete()
        # uvicorn makes a new cycle for a request; for a WebSocket upgrade it makes none.
        self._enter(_Wait.BODY if self.cycle is not cycle else _Wait.NONE)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0
        self._enter(_Wait.NONE)

    def handle_websocket_upgrade(self) -> None:
        # uvicorn applies limit_concurrency to requests only: an upgrade is checked here, and
        # against the WebSocket limit, which keeps room for requests (/healthz included).
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            message = "The gateway is at its connection limit"
        elif self._websockets.full:
            message = f"The gateway has {self._websockets.limit} WebSockets open, its limit"
        else:
            super().handle_websocket_upgrade()
            return
        message += f"; retry after {RETRY_AFTER_SECONDS} s."
        metrics = self.app_state.get("metrics")
        if metrics is not None:  # the app's, once its lifespan has started
            metrics.websockets_refused.labels("process").inc()
        # No lingering: an upgrade has no body to drain, and a flood of refused upgrades must
        # not hold connections that requests need.
        self._refuse(503, message, "OVERLOADED", linger=False, retry_after=RETRY_AFTER_SECONDS)

    def _feed(self, data: bytes) -> bool:
        """Parse `data`; whether this protocol still reads the connection afterwards."""
        super().data_received(data)
        transport = self._socket
        if transport is None or transport.is_closing() or self._wait is _Wait.GONE:
            return False
        if transport.get_protocol() is not self:  # handed over to uvicorn's WebSocket protocol
            self._cancel_timer()
            return False
        return True

    def _enter(self, wait: _Wait) -> None:
        if wait is not self._wait:
            self._wait = wait
            self._changed = True

    def _set_timer(self) -> None:
        """Time the current wait from now (a wait that starts and ends in one read costs none)."""
        self._changed = False
        self._cancel_timer()
        delay = {
            _Wait.IDLE: self._keepalive,
            _Wait.HEAD: self._limits.header_timeout,
            _Wait.BODY: self._limits.body_timeout,
        }.get(self._wait)
        if delay is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        wait = self._wait
        if wait is _Wait.HEAD:
            seconds = self._limits.header_timeout
            message = f"Request headers were not complete within {seconds:g} seconds."
            self._refuse(408, message, "HEADERS_TIMEOUT")
        elif wait is _Wait.BODY:
            seconds = self._limits.body_timeout
            message = f"Request body was not complete within {seconds:g} seconds."
            self._refuse(408, message, "BODY_TIMEOUT")
        elif self._socket is not None:
            self._socket.close()

    def _refuse(
        self,
        status: int,
        message: str,
        code: str,
        *,
        linger: bool = True,
        retry_after: int | None = None,
    ) -> None:
        """Answer `status` unless another response is under way, and close the connection."""
        waited, self._wait = self._wait, _Wait.GONE
        self._cancel_timer()
        transport = self._socket
        if transport is None:
            return
        self.logger.warning("%s Closing the connection (%d).", message, status)
        lingering = False
        try:
            if self._end_cycle(waited):
                transport.write(self._response(status, message, code, retry_after))
                if linger and transport.can_write_eof():
                    transport.write_eof()
                    lingering = True
        finally:
            if lingering:
                self._timer = asyncio.get_running_loop().call_later(LINGER, transport.close)
            else:
                transport.close()

    def _end_cycle(self, waited: _Wait) -> bool:
        """Cut off the request under way, if any; whether a response may still be written."""
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is None or cycle.response_complete:
            return waited is not _Wait.BODY  # a body still arriving was answered already
        # What uvicorn does when a client leaves: the app's sends are dropped and its
        # receive() returns http.disconnect.
        cycle.disconnected = True
        cycle.message_event.set()
        # A queued (pipelined) request means an earlier response is still to come.
        return waited is _Wait.BODY and not cycle.response_started and not self.pipeline

    def _media_type(self) -> bytes:
        """The error's media type: as the request's Accept asks, once its headers are in."""
        cycle: RequestResponseCycle | None = self.cycle
        accept = Headers(raw=list(cycle.scope["headers"])).get("accept") if cycle else None
        return (negotiate(accept) or JSON).encode()

    def _response(
        self, status: int, message: str, code: str, retry_after: int | None = None
    ) -> bytes:
        error = {"message": message, "extensions": {"code": code}}
        body = json.dumps({"errors": [error]}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if retry_after is not None:
            head.append(b"retry-after: %d\r\n" % retry_after)
        head += [b"content-type: ", self._media_type(), b"\r\nconnection: close\r\n"]
        head.append(b"content-length: %d\r\n\r\n" % len(body))
        return b"".join(head) + body


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, taking one of the process's WebSocket slots while open,
    with frames limited to a few KB until the app has authenticated the caller.

    websockets checks a frame's declared length against `max_message_size` as soon as its
    header is in, so an oversized frame closes the socket with 1009 before its payload is
    read. The limit is read when a frame begins, so raising it applies from the next frame.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        websockets: WebSocketSlots,
        init_max_bytes: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._websockets = websockets
        self._counted = False
        self.conn.max_message_size = init_max_bytes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._websockets.open += 1
        self._counted = True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._websockets.open -= 1
        super().connection_lost(exc)

    async def run_asgi(self) -> None:
        extensions = self.scope.get("extensions")
        if extensions is None:
            extensions = self.scope["extensions"] = {}
        extensions[FRAME_LIMIT] = {"authenticated": self._authenticated}
        await super().run_asgi()

    def _authenticated(self) -> None:
        """Frames up to the HTTP body limit (uvicorn's ws_max_size) from the next one on."""
        self.conn.max_message_size = self.config.ws_max_size


def _problems() -> list[str]:
    """What uvicorn's or websockets' protocols lack of what the gateway's protocols rely on."""
    missing = [
        f"HttpToolsProtocol.{name}"
        for name in _HOOKS
        if not callable(getattr(HttpToolsProtocol, name, None))
    ]
    missing += [
        f"WebSocketsSansIOProtocol.{name}"
        for name in _WS_HOOKS
        if not callable(getattr(WebSocketsSansIOProtocol, name, None))
    ]
    missing += [
        f"uvicorn.Server.{name}"
        for name in _SERVER_HOOKS
        if not callable(getattr(uvicorn.Server, name, None))
    ]
    missing += [
        f"uvicorn's Multiprocess.{name}"
        for name in _SUPERVISOR_HOOKS
        if not callable(getattr(Multiprocess, name, None))
    ]
    if not hasattr(ServerProtocol(max_size=1), "max_message_size"):
        missing.append("websockets' ServerProtocol.max_message_size")
    return [f"{name} is missing" for name in missing]


PROTOCOLS = seam(
    "The transport limits in uvicorn's protocols (app/http/serving.py)",
    "the gateway does not start without them",
    _problems,
    libraries="uvicorn or websockets",
)


# Seconds a shutdown waits, beyond the request deadline, for responses still being sent.
SHUTDOWN_GRACE_SECONDS = 5.0


def server_options(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info"
) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run or uvicorn.Config that serve with `settings`' limits."""
    PROTOCOLS.require()  # stops start-up: never served without the limits
    websockets = WebSocketSlots(settings.websocket_limit)
    return {
        "host": host,
        "port": port,
        "log_level": log_level,
        # No uvicorn access log: RequestLog already writes one JSON line per request.
        "access_log": False,
        "log_config": None,
        "lifespan": "on",
        # uvicorn accepts any protocol factory here; a partial (not a class made per
        # settings) pickles, so it reaches `--workers` processes too.
        "http": functools.partial(
            GatewayProtocol, limits=TransportLimits.of(settings), websockets=websockets
        ),
        # uvicorn's default, sans-I/O implementation: it stops reading once a message is
        # queued for the app until the app has taken it, so at most one read's worth waits;
        # uvicorn's ws_max_queue is read only by the legacy implementation.
        "ws": functools.partial(
            GatewayWebSocketProtocol,
            websockets=websockets,
            init_max_bytes=settings.websocket_init_max_bytes,
        ),
        "ws_max_size": settings.max_body_bytes,
        "timeout_keep_alive": settings.keepalive_timeout,
        # uvicorn counts the connection asking as well: N + 1 lets N connections be served.
        "limit_concurrency": settings.max_connections + 1,
        # Requests end by their deadline; subscription streams (SSE) never end by themselves,
        # and uvicorn would wait for them forever: past this they are cut, and their clients
        # reconnect elsewhere with their last event id.
        "timeout_graceful_shutdown": settings.request_timeout + SHUTDOWN_GRACE_SECONDS,
    }


def server_config(
    app: ASGIApp,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
) -> uvicorn.Config:
    """The uvicorn configuration serving `app` with `settings`' transport limits."""
    options = server_options(settings, host=host, port=port, log_level=log_level)
    return uvicorn.Config(app, **options)


# Seconds the streams get to send their last event before uvicorn's shutdown closes their
# connections.
STREAM_END_WAIT = 2.0

log = logging.getLogger("session_gateway.serving")


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping cleanly on SIGTERM (app/http/drain.py): not ready at once and
    still serving for `drain_seconds`, then the streams end with a cursor to resume from, then
    uvicorn's own shutdown lets the requests in flight finish. A second signal, or SIGINT
    (Ctrl+C), skips what is left of the drain."""

    def __init__(self, config: Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self._drain_until: float | None = None
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        DRAIN.begin()
        first = self._drain_until is None and not self.should_exit
        if sig == signal.SIGTERM and first and self.drain_seconds > 0:
            self._drain_until = time.monotonic() + self.drain_seconds
            # uvicorn re-raises the signals it caught once it has shut down.
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.append(sig)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None:
            if not self._announced:  # here, not in the signal handler, which may not log
                self._announced = True
                log.info(
                    "SIGTERM: draining for %s s (/readyz answers 503, requests are served), "
                    "then shutting down.",
                    self.drain_seconds,
                )
            if time.monotonic() >= self._drain_until:
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        DRAIN.begin()
        await DRAIN.end_streams(STREAM_END_WAIT)
        await super().shutdown(sockets)


class DrainingSupervisor(Multiprocess):
    """uvicorn's supervisor of `serve --workers N`, stopping its workers as DrainingServer stops
    one process: on SIGTERM each worker drains (DRAIN_SIGNAL) for `drain_seconds` while the
    supervisor replaces no worker, then ends its streams (END_STREAMS_SIGNAL), then gets
    uvicorn's SIGTERM. A second SIGTERM, or SIGINT, stops them at once."""

    def __init__(self, config: Config, sockets: list[socket.socket], drain_seconds: float) -> None:
        super().__init__(config, sockets)
        self.drain_seconds = drain_seconds
        self._drain_until: float | None = None

    def handle_term(self) -> None:
        if self._drain_until is None and not self.should_exit.is_set():
            log.info(
                "SIGTERM: draining the workers for %s s, then shutting down.", self.drain_seconds
            )
            self._drain_until = time.monotonic() + self.drain_seconds
            self._signal_workers(DRAIN_SIGNAL)
            return
        super().handle_term()

    def keep_subprocess_alive(self) -> None:
        if self._drain_until is None:
            super().keep_subprocess_alive()
        elif time.monotonic() >= self._drain_until and not self.should_exit.is_set():
            self._signal_workers(END_STREAMS_SIGNAL)
            time.sleep(STREAM_END_WAIT)
            self.should_exit.set()

    def _signal_workers(self, sig: int) -> None:
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)


def tune_collector() -> None:
    """Set the collector's thresholds for a process that serves requests (`GC_THRESHOLDS`).

    Only `session-gateway serve` and `demo` call it, in each worker: an application that
    embeds `create_app` under its own server keeps its own collector settings.
    """
    gc.set_threshold(*GC_THRESHOLDS)
