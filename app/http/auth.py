"""AuthMiddleware: authenticates every GraphQL request before Strawberry sees it."""

from __future__ import annotations

import json

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.authenticator import Authenticator, TwoCredentials, Unauthenticated


class AuthMiddleware:
    """401 for bad or missing credentials on `path`, 400 for two of them; the principal goes
    to request state.

    A browser GET of the GraphiQL page (HTML, no query) needs no credentials: the page sends
    them with each query it runs.
    """

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if scope["path"].rstrip("/") != self.path:
                await send({"type": "websocket.close", "code": 1008})
                return
            # graphql-transport-ws authenticates at connection_init (app/http/websocket.py): a
            # browser cannot set headers on an upgrade, and nothing runs before that message.
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        params = QueryParams(scope.get("query_string", b""))
        if not wants_ide(scope["method"], headers.get("accept", ""), params):
            authenticator: Authenticator = state["authenticator"]
            try:
                state["principal"] = await authenticator.authenticate(headers)
            except TwoCredentials as exc:
                await _refuse(send, str(exc), 400, "BAD_REQUEST")
                return
            except Unauthenticated as exc:
                await _refuse(send, str(exc))
                return
        await self.app(scope, receive, send)


def wants_ide(method: str, accept: str, params: QueryParams) -> bool:
    """A browser asking for the GraphiQL page rather than running a query (decoded params)."""
    return method == "GET" and "text/html" in accept and "query" not in params


async def _refuse(
    send: Send, message: str, status: int = 401, code: str = "UNAUTHENTICATED"
) -> None:
    error = {"message": message, "extensions": {"code": code}}
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer, ApiKey header="X-API-Key"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps({"errors": [error]}).encode()})
