"""graphql-transport-ws on /graphql, authenticated like HTTP requests.

AuthMiddleware cannot answer a WebSocket upgrade with a 401 that clients read, and browsers
cannot set headers on one, so the caller is authenticated at `connection_init`: from its payload
(`X-API-Key` / `Authorization`, any case) or else the upgrade request's headers, with the same
Authenticator and so the same Principal scoping. A refused caller gets close code 4403 with the
reason. Only subscriptions run here: queries and mutations go over HTTP, where admission control,
the request deadline and the call budget apply per request. Each `subscribe` counts against the
caller's rate limit and cost budget as a subscription over SSE does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)

from app.auth.authenticator import Authenticator, Unauthenticated
from app.echo import clip_echoes
from app.live.caller import LiveCaller
from app.persisted import REQUIRED_MESSAGE, PersistedDocuments
from app.ratelimit import RateLimiter, Refusal, refusal_error
from app.sse import operation_problem
from resolvers.context import Context

log = logging.getLogger("session_gateway.websocket")

# Reasons in a close frame must fit in 123 bytes.
MAX_REASON = 120


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Messages as text frames: graphql-transport-ws clients reject binary ones, which the
    view's orjson encoder (bytes) would otherwise make."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


def credentials(upgrade: dict[str, str], payload: dict[str, Any]) -> dict[str, str]:
    """The upgrade request's headers, with string values of the init payload over them."""
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
        headers = credentials(dict(socket.headers), payload)
        state = socket.state
        authenticator: Authenticator = state.authenticator
        try:
            principal = await authenticator.authenticate(headers)
        except Unauthenticated as exc:
            reason = clip_echoes(str(exc))[:MAX_REASON]
            await self.websocket.close(code=4403, reason=reason)
            return False
        address = socket.client.host if socket.client else None
        live = LiveCaller.create(
            state.hub, principal, headers, authenticator, self.reauth_interval, address
        )
        self.context = replace(self.context, principal=principal, live=live)
        return True

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and (refusal := await self._admit()) is not None:
            await self.send_message(
                ErrorMessage(id=message["id"], type="error", payload=[refusal_error(refusal)])
            )
            return
        payload = message.get("payload") or {}
        query: object = payload.get("query")
        name = payload.get("operationName")
        problem = operation_problem(query, name, "WebSocket") if isinstance(query, str) else None
        code = "BAD_REQUEST"
        if (
            problem is None
            and isinstance(query, str)
            and self.persisted is not None
            and not self.persisted.may_send(query, self.context.principal)
        ):
            # `require` mode holds here too: only trusted documents, unless `documents:any`.
            problem, code = REQUIRED_MESSAGE, "PERSISTED_DOCUMENT_REQUIRED"
        if problem is not None and self.connection_acknowledged:
            error = GraphQLError(problem, extensions={"code": code})
            await self.send_message(
                ErrorMessage(id=message["id"], type="error", payload=[error.formatted])
            )
            return
        await super().handle_subscribe(message)

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

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
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
