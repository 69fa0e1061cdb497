"""RequestHeaders: an ASGI middleware that makes a request's headers unambiguous."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

# Header names as ASGI gives them (lower case), and as messages name them.
CREDENTIAL_HEADERS = {b"x-api-key": "X-API-Key", b"authorization": "Authorization"}


class RequestHeaders:
    """400 for a repeated credential header on `path`.

    With two credentials, which one authenticates would be an accident of header order.
    """

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        seen: set[bytes] = set()
        for name, _ in scope["headers"]:
            if name in CREDENTIAL_HEADERS:
                if name in seen:
                    await _refuse(send, CREDENTIAL_HEADERS[name])
                    return
                seen.add(name)
        await self.app(scope, receive, send)


async def _refuse(send: Send, header: str) -> None:
    message = f"The {header} header was sent more than once; send one credential."
    error = {"message": message, "extensions": {"code": "BAD_REQUEST"}}
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps({"errors": [error]}).encode()})
