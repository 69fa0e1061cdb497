"""ErrorMediaType: every error the gateway writes for /graphql in the media type asked for.

Middleware (body limit, headers, authentication, admission) and the view's own refusals write
`{"errors": [...]}` as application/json; a client that asked for
application/graphql-response+json gets that label instead (GraphQL over HTTP), whatever layer
refused it. The body is already a valid GraphQL response, so only the header changes.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.media import GRAPHQL_RESPONSE, JSON, negotiate

_JSON = JSON.encode()
_GRAPHQL_RESPONSE = GRAPHQL_RESPONSE.encode()


class ErrorMediaType:
    """Re-label JSON error responses (status >= 400) on `path` when the Accept header prefers
    application/graphql-response+json."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        if negotiate(Headers(scope=scope).get("accept")) != GRAPHQL_RESPONSE:
            await self.app(scope, receive, send)
            return

        async def relabelling_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                message = {**message, "headers": [_relabel(h) for h in message["headers"]]}
            await send(message)

        await self.app(scope, receive, relabelling_send)


def _relabel(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    name, value = header
    if name.lower() == b"content-type" and value.split(b";")[0].strip().lower() == _JSON:
        return name, _GRAPHQL_RESPONSE
    return header
