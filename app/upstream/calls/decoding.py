"""An answer made into a result: its status into a gateway error, its body into JSON, the JSON
into what the adapter asked for (any failure of that is the body's fault)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from app.core.errors import (
    GatewayError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)

T = TypeVar("T")


def status_error(name: str, status: int) -> UpstreamError | None:
    """The gateway error a status stands for (None for 2xx and 3xx)."""
    if status in (401, 403):
        return UpstreamUnauthorized(
            f"{name} rejected the gateway's credentials (HTTP {status}).", provider=name
        )
    if status == 429:
        return UpstreamUnavailable(
            f"{name} is rate limiting the gateway (HTTP 429).", provider=name
        )
    if status >= 500:
        return UpstreamUnavailable(f"{name} answered HTTP {status}.", provider=name)
    if status >= 400:
        return UpstreamBadResponse(
            f"{name} refused the gateway's request (HTTP {status}).", provider=name
        )
    return None


def decode(name: str, status: int, body: bytes) -> Any:
    """The JSON of a 2xx answer; any other status becomes its gateway error."""
    error = status_error(name, status)
    if error is not None:
        raise error
    if status == 204 or not body:
        return None
    # orjson decodes about twice as fast. Where it refuses (NaN, 1e400, lone surrogates, bytes
    # that are not UTF-8) json decides, as before. Unlike json it reads integers past 64 bits
    # as floats; no upstream sends any, and the readers refuse inexact integers (_json.opt_int).
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise UpstreamBadResponse(f"{name} answered with invalid JSON.", provider=name) from exc


def parse_shape(provider: str, parse: Callable[[Any], T], payload: Any) -> T:
    """`parse(payload)`, with a shape it rejects reported as the provider's bad response."""
    try:
        return parse(payload)
    except GatewayError:
        raise
    except Exception as exc:  # any reader's failure on a body is that body's fault
        raise UpstreamBadResponse(
            f"{provider} answered with an unexpected shape.", provider=provider
        ) from exc
