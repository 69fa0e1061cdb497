"""CORS: the browser origins that may call the gateway (GATEWAY_CORS_ORIGINS).

Starlette's CORSMiddleware, outermost, so a preflight is answered before authentication,
admission or body limits see it (a preflight carries no credentials by design). Listed origins
may send credentials; `*` (anonymous demos only, see Settings) never allows them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

ANY_ORIGIN = "*"
# What the gateway's own clients send: GET and POST, with these request headers (and the headers
# of the caller's upstream credentials, GATEWAY_<P>_FORWARD_HEADER). Last-Event-ID resumes an
# SSE stream; fetch-based SSE clients set it themselves, so it needs a preflight.
METHODS = ("GET", "POST")
HEADERS = ("accept", "authorization", "content-type", "last-event-id", "x-api-key", "x-request-id")
# Readable by the page: the id to quote in a support request, and when to retry a 429/503.
EXPOSED = ("x-request-id", "retry-after")
# How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
MAX_AGE_SECONDS = 600

# scheme://host[:port], as browsers send Origin: no path, no trailing slash.
_ORIGIN = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$")


def parse_origins(value: object) -> tuple[str, ...]:
    """GATEWAY_CORS_ORIGINS: comma-separated exact origins, or `*` alone."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise ValueError("must be a comma-separated list of origins such as https://app.example")
    # Scheme and host are case-insensitive, and browsers send them in lower case.
    origins = tuple(str(origin).lower() for origin in value)
    if ANY_ORIGIN in origins and len(origins) > 1:
        raise ValueError("`*` allows every origin; give it alone or list exact origins")
    for origin in origins:
        if origin != ANY_ORIGIN and not _ORIGIN.match(origin):
            raise ValueError(
                f"'{origin}' is not an origin: scheme://host[:port], with no path or trailing "
                "slash, such as https://app.example"
            )
    return origins


class Cors(CORSMiddleware):
    """CORSMiddleware whose successful preflight is a bodiless 204."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's preflight answer; 204 No Content instead of 200 "OK" when allowed."""
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            return response  # 400 naming the disallowed origin, method or header
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        return Response(status_code=204, headers=headers)


def cors(origins: tuple[str, ...], forwarded: Iterable[str] = ()) -> list[Middleware]:
    """The CORS middleware for `origins`, allowing HEADERS and the `forwarded` credential
    headers; none when no origin is allowed."""
    if not origins:
        return []
    headers = dict.fromkeys([*HEADERS, *(header.lower() for header in forwarded)])
    return [
        Middleware(
            Cors,
            allow_origins=list(origins),
            allow_methods=list(METHODS),
            allow_headers=list(headers),
            expose_headers=list(EXPOSED),
            allow_credentials=origins != (ANY_ORIGIN,),
            max_age=MAX_AGE_SECONDS,
        )
    ]
