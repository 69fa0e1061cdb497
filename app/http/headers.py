"""RequestHeaders: an ASGI middleware that makes a request's headers unambiguous."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

# Header names as ASGI gives them (lower case), and as messages name them.
CREDENTIAL_HEADERS = {b"x-api-key": "X-API-Key", b"authorization": "Authorization"}


class RequestHeaders:
    """400 for a repeated credential header on `path`; media types lower-cased for Strawberry.

    With two credentials, which one authenticates would be an accident of header order. Media
    types are case-insensitive (RFC 9110, section 8.3.1) but Strawberry compares them exactly,
    so the Content-Type's type and subtype are lower-cased here; its parameters are kept.
    """

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        seen: set[bytes] = set()
        mixed_case = False
        for name, value in scope["headers"]:
            if name in CREDENTIAL_HEADERS:
                if name in seen:
                    await _refuse(send, CREDENTIAL_HEADERS[name])
                    return
                seen.add(name)
            elif name == b"content-type":
                mixed_case = mixed_case or _lowered(value) != value
        if mixed_case:
            scope["headers"] = [
                (name, _lowered(value) if name == b"content-type" else value)
                for name, value in scope["headers"]
            ]
        await self.app(scope, receive, send)


def _lowered(content_type: bytes) -> bytes:
    """`content_type` with its media type in lower case and its parameters as they were."""
    media_type, separator, parameters = content_type.partition(b";")
    return media_type.lower() + separator + parameters


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
