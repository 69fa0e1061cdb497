"""A clean stop on SIGTERM, in three steps (the server side is DrainingServer, app/http/serving.py).

1. Draining, from the signal on for GATEWAY_DRAIN_SECONDS: /readyz answers 503, so the load
   balancer stops sending new connections here, while every request that still arrives is
   answered as usual, with `Connection: close` so that keep-alive clients reconnect elsewhere.
2. Closing: each SSE stream and WebSocket ends itself with a `SHUTTING_DOWN` error carrying the
   cursor to resume from (`extensions.resumeFrom`), then completes; sockets close with 1012.
3. uvicorn's own shutdown: the listening socket closes, requests in flight finish, the process
   exits by re-raising the signal.

One `DRAIN` per process: the signal reaches the process, not an app. With `serve --workers N`
the supervisor (DrainingSupervisor) gets SIGTERM and walks its workers through the same steps
with DRAIN_SIGNAL, then END_STREAMS_SIGNAL, then uvicorn's SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from graphql import GraphQLError, GraphQLFormattedError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What an ended stream's last event says; the error code is SHUTTING_DOWN.
SHUTTING_DOWN = "SHUTTING_DOWN"
MESSAGE = "The gateway is shutting down: reconnect, and resume from `resumeFrom`."
# The close code of a WebSocket ended by a shutdown (RFC 6455's "Service Restart").
SERVICE_RESTART = 1012
CLOSE_REASON = "The gateway is shutting down: reconnect and resubscribe with since."
# What the supervisor of `serve --workers N` sends its workers: draining begins; streams end.
DRAIN_SIGNAL = signal.SIGUSR1
END_STREAMS_SIGNAL = signal.SIGUSR2


class Drain:
    """One process's stop: whether it is draining, and the open streams to end when closing."""

    def __init__(self) -> None:
        self.draining = False
        self._streams: set[asyncio.Event] = set()

    def begin(self) -> None:
        """From now on, not ready; still serving. Safe in a signal handler (a flag only)."""
        self.draining = True

    @contextlib.contextmanager
    def stream(self) -> Iterator[asyncio.Event]:
        """Register an open stream: the event is set when the stream must end."""
        ending = asyncio.Event()
        self._streams.add(ending)
        try:
            yield ending
        finally:
            self._streams.discard(ending)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def end(self) -> None:
        """Tell every open stream to end (on the event loop's thread)."""
        for ending in self._streams:
            ending.set()

    async def end_streams(self, wait: float) -> None:
        """Tell every open stream to end, and wait up to `wait` seconds until they have."""
        self.end()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # The streams unregister themselves as they end; uvicorn polls its own state likewise.
        while self._streams and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


DRAIN = Drain()


def follow_supervisor() -> None:
    """In a worker process of `serve --workers N`: DRAIN_SIGNAL begins the drain,
    END_STREAMS_SIGNAL ends the open streams. Call it on the main thread, before serving."""

    def begin(sig: int, frame: FrameType | None) -> None:
        DRAIN.begin()

    def end(sig: int, frame: FrameType | None) -> None:
        # A signal handler runs on the main thread, the event loop's, between two steps of it.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving (yet, or any more)
        loop.call_soon_threadsafe(DRAIN.end)

    signal.signal(DRAIN_SIGNAL, begin)
    signal.signal(END_STREAMS_SIGNAL, end)


def shutting_down(resume_from: str | None) -> GraphQLFormattedError:
    """The GraphQL error a stream's last event carries."""
    extensions: dict[str, object] = {"code": SHUTTING_DOWN}
    if resume_from is not None:
        extensions["resumeFrom"] = resume_from
    return GraphQLError(MESSAGE, extensions=extensions).formatted


class CloseWhileDraining:
    """`Connection: close` on every HTTP response while the process drains, so that keep-alive
    clients take their next request to another replica."""

    def __init__(self, app: ASGIApp, drain: Drain = DRAIN) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, sending)
