"""graphql-transport-ws on /graphql, authenticated like HTTP requests.

AuthMiddleware cannot answer a WebSocket upgrade with a 401 that clients read, and browsers
cannot set headers on one, so the caller is authenticated at `connection_init`: from its payload
(`X-API-Key` / `Authorization`, any case) or else the upgrade request's headers, with the same
Authenticator and so the same Principal scoping. A refused caller gets close code 4403 with the
reason; one that sends two credentials, 4400. Only subscriptions run here: queries and mutations
go over HTTP, where admission control, the request deadline and the call budget apply per
request. A `subscribe` may name its document by `documentId` or APQ hash, as over SSE, and
counts against the caller's rate limit and cost budget as a subscription over SSE does.

Until the caller is authenticated, frames are limited to GATEWAY_WEBSOCKET_INIT_MAX_BYTES (the
protocol of app/http/serving.py enforces it); the process's WebSockets, and each client address's
(WebSocketsPerAddress), are bounded before the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

import orjson
from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    ErrorMessage,
    Message,
    SubscribeMessage,
)

from app.auth.authenticator import Authenticator, TwoCredentials, Unauthenticated
from app.core.echo import clip_echoes
from app.http.drain import CLOSE_REASON, DRAIN, SERVICE_RESTART, shutting_down
from app.http.serving import FRAME_LIMIT
from app.http.sse import subscription_query
from app.live.caller import LiveCaller
from app.state.persisted import PersistedDocuments, Refused
from app.state.ratelimit import RateLimiter, Refusal, refusal_error
from resolvers.types.context import Context

log = logging.getLogger("session_gateway.websocket")

# Reasons in a close frame must fit in 123 bytes.
MAX_REASON = 120

# The credential headers (lower case), and as messages name them.
CREDENTIALS = {"x-api-key": "X-API-Key", "authorization": "Authorization"}


class WebSocketsPerAddress:
    """429 for a WebSocket upgrade from a client address that has `limit` sockets open.

    The address is the one the app sees, so behind a trusted proxy (uvicorn's
    `--forwarded-allow-ips`) it is the client's, not the proxy's. The refusal is an HTTP
    response before the handshake, which a client reads as a failed connection.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        if self.open[address] >= self.limit:
            await self._refuse(scope, send)
            return
        self.open[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]

    async def _refuse(self, scope: Scope, send: Send) -> None:
        metrics = (scope.get("state") or {}).get("metrics")
        if metrics is not None:
            metrics.websockets_refused.labels("address").inc()
        if "websocket.http.response" not in (scope.get("extensions") or {}):
            await send({"type": "websocket.close", "code": 1013})  # the server answers 403
            return
        message = f"This client address has {self.limit} WebSockets open, its limit."
        body = {"errors": [{"message": message, "extensions": {"code": "TOO_MANY_REQUESTS"}}]}
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 429,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": json.dumps(body).encode()})


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Messages as text frames: graphql-transport-ws clients reject binary ones, which the
    view's orjson encoder (bytes) would otherwise make."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


def credentials(
    upgrade: Headers, payload: Mapping[str, Any], authorization_forwarded: bool = False
) -> dict[str, str]:
    """The upgrade request's headers, with string values of the init payload over them.

    TwoCredentials when they hold more than one credential (as HTTP answers 400): which one
    counted would be an accident of where each was put. An Authorization header that an
    upstream takes as the caller's own credential rides beside the API key, as on HTTP, but
    still only once.
    """
    found = [
        f"{CREDENTIALS[name.lower()]} in the upgrade request"
        for name, value in upgrade.items()
        if name.lower() in CREDENTIALS and value.strip()
    ]
    found += [
        f"{CREDENTIALS[key.lower()]} in connection_init"
        for key, value in payload.items()
        if key.lower() in CREDENTIALS and isinstance(value, str) and value.strip()
    ]
    groups = (
        [[f for f in found if f.startswith(name)] for name in CREDENTIALS.values()]
        if authorization_forwarded
        else [found]
    )
    for group in groups:
        if len(group) > 1:
            raise TwoCredentials(f"Send one credential, not {group[0]} and {group[1]}.")
    merged = {k.lower(): v for k, v in upgrade.items()}
    merged.update({k.lower(): v for k, v in payload.items() if isinstance(v, str)})
    return merged


class AuthenticatingTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, authenticating at connection_init."""

    heartbeat_interval = 15.0
    reauth_interval = 60.0
    persisted: PersistedDocuments | None = None
    _heartbeat: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload: object = message.get("payload") or {}
        if isinstance(payload, dict) and not self.connection_init_received:
            socket = cast("ASGIWebSocketAdapter", self.websocket).ws
            if not await self._authenticate(socket, payload):
                return
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(), name="ws-heartbeat")

    async def _authenticate(self, socket: WebSocket, payload: dict[str, Any]) -> bool:
        state = socket.state
        authenticator: Authenticator = state.authenticator
        try:
            headers = credentials(socket.headers, payload, authenticator.authorization_forwarded)
            principal = await authenticator.authenticate(headers)
        except TwoCredentials as exc:
            await self.websocket.close(code=4400, reason=str(exc)[:MAX_REASON])
            return False
        except Unauthenticated as exc:
            reason = clip_echoes(str(exc))[:MAX_REASON]
            await self.websocket.close(code=4403, reason=reason)
            return False
        frame_limit = (socket.scope.get("extensions") or {}).get(FRAME_LIMIT)
        if frame_limit is not None:
            frame_limit["authenticated"]()  # before the ack: the client's next frame may be large
        address = socket.client.host if socket.client else None
        live = LiveCaller.create(
            state.hub, principal, headers, authenticator, self.reauth_interval, address
        )
        self.context = replace(self.context, principal=principal, live=live)
        return True

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message.get("id") not in self.operations:
            if (refusal := await self._admit()) is not None:
                await self.send_message(
                    ErrorMessage(id=message["id"], type="error", payload=[refusal_error(refusal)])
                )
                return
            resolved = await self._document(message)
            if resolved is None:
                return
            message = resolved
        await super().handle_subscribe(message)

    async def _document(self, message: SubscribeMessage) -> SubscribeMessage | None:
        """`message` with its document filled in from a `documentId` or APQ hash, as over SSE;
        None when the document may not run here, answered with an `error` for this id only."""
        payload: object = message.get("payload")
        if not isinstance(payload, dict):
            return message  # malformed: Strawberry closes the socket, as the protocol says
        if payload.get("query") is not None and not isinstance(payload.get("query"), str):
            return message
        try:
            query = await subscription_query(
                self.persisted, payload, self.context.principal, "WebSocket"
            )
        except Refused as exc:
            await self._refuse(message, exc.message, exc.code)
            return None
        if query is None:
            return message  # no document at all: Strawberry closes the socket (4400)
        return cast("SubscribeMessage", {**message, "payload": {**payload, "query": query}})

    async def _refuse(self, message: SubscribeMessage, problem: str, code: str) -> None:
        error = GraphQLError(problem, extensions={"code": code})
        await self.send_message(
            ErrorMessage(id=message["id"], type="error", payload=[error.formatted])
        )

    async def _admit(self) -> Refusal | None:
        """Count this `subscribe` as the RateLimit middleware counts an SSE request."""
        limiter = self._limiter
        if not limiter.enabled:
            return None
        return await limiter.admit(self.context.principal, self._caller)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Its document's cost is charged when it ends, as an SSE stream's is.
        async with self._limiter.metered(self._caller):
            await super().run_operation(operation)

    @property
    def _limiter(self) -> RateLimiter:
        limiter: RateLimiter = cast("ASGIWebSocketAdapter", self.websocket).ws.state.limiter
        return limiter

    @property
    def _caller(self) -> str:
        return self.context.principal.caller(cast("ASGIWebSocketAdapter", self.websocket).ws.client)

    async def send_message(self, message: Message) -> None:
        if message.get("type") == "next" and self.context.live is not None:
            # The cursor of the event this `next` carries: where the operation resumes.
            self._resume[cast("str", message.get("id"))] = self.context.live.last_cursor
        await super().send_message(message)

    async def handle(self) -> None:
        self._resume: dict[str, str | None] = {}
        with DRAIN.stream() as ending:
            shutdown = asyncio.create_task(self._end_on_shutdown(ending), name="ws-shutdown")
            try:
                await super().handle()
            finally:
                shutdown.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await shutdown
                await self._stop_heartbeat()

    async def _end_on_shutdown(self, ending: asyncio.Event) -> None:
        """When the process shuts down: each operation's last `next` is a SHUTTING_DOWN error
        with its cursor to resubscribe `since`, then `complete`; then the socket closes, 1012."""
        await ending.wait()
        with contextlib.suppress(WebSocketDisconnected, WebSocketDisconnect, RuntimeError):
            for operation_id in list(self.operations):
                await self.cleanup_operation(operation_id)
                error = shutting_down(self._resume.get(operation_id))
                payload = {"data": None, "errors": [error]}
                await self.send_message(
                    cast("Message", {"id": operation_id, "type": "next", "payload": payload})
                )
                await self.send_message(CompleteMessage(id=operation_id, type="complete"))
            await self.websocket.close(code=SERVICE_RESTART, reason=CLOSE_REASON)

    async def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

    async def _beat(self) -> None:
        """graphql-transport-ws pings: keep proxies from closing an idle socket."""
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.heartbeat_interval)
                await self.send_message({"type": "ping"})


def transport_ws_handler(
    heartbeat: float, reauth: float, persisted: PersistedDocuments | None = None
) -> type[AuthenticatingTransportWS]:
    """The handler class with this app's heartbeat and re-authentication intervals and its
    trusted documents."""
    return type(
        "GatewayTransportWS",
        (AuthenticatingTransportWS,),
        {"heartbeat_interval": heartbeat, "reauth_interval": reauth, "persisted": persisted},
    )
