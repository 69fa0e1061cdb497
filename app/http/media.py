"""GraphQL over HTTP: Accept negotiation, request shape, application/graphql-response+json."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
EVENT_STREAM = "text/event-stream"  # graphql-sse (app/http/sse.py)
# A subscription has no single answer: it runs only on a stream.
SUBSCRIPTION_OVER_HTTP = (
    "A subscription cannot be answered as one JSON response: send it with "
    "`Accept: text/event-stream` (GraphQL over SSE), or over a WebSocket with the "
    "graphql-transport-ws protocol."
)


def _ranked(accept: str) -> list[tuple[float, int, str]]:
    """(quality, -position, media type) of each acceptable entry of an Accept header."""
    ranked = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((quality, -position, media.strip().lower()))
    return ranked


def prefers_event_stream(accept: str | None) -> bool:
    """Whether a client asks for a graphql-sse stream rather than one JSON answer.

    graphql-sse's client accepts only text/event-stream. Clients such as urql list it after
    the JSON types for every operation (they can read either), and get the JSON answer: a
    stream only when it ranks above every JSON type (quality, then position).
    """
    ranked = _ranked(accept or "")
    stream = [entry for entry in ranked if entry[2] == EVENT_STREAM]
    ordinary = [
        entry for entry in ranked if entry[2] in (GRAPHQL_RESPONSE, JSON, "*/*", "application/*")
    ]
    return bool(stream) and (not ordinary or max(stream) > max(ordinary))


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header; None when neither is acceptable."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for quality, position, media in _ranked(accept):
        if media in (GRAPHQL_RESPONSE, JSON):
            chosen = media
        elif media in ("*/*", "application/*"):
            chosen = GRAPHQL_RESPONSE if media == "application/*" else JSON
        else:
            continue
        # Higher quality wins; at equal quality the first listed.
        candidate = (quality, position, chosen)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else None


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """A GraphQL-shaped error answer written before execution."""
    error = {"message": message, "extensions": {"code": code}}
    return JSONResponse({"errors": [error]}, status_code=status)


def shape_problem(body: object) -> str | None:
    """Why a decoded JSON body is not a GraphQL request, or None when it may be one."""
    # Strawberry refuses batches (lists) and a `query`, `variables` or `extensions` of the
    # wrong type with clear messages, but would make `"operationName": 5` an operation "5".
    if isinstance(body, list):
        return None
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    name = body.get("operationName")
    if name is not None and not isinstance(name, str):
        return "The GraphQL operation's `operationName` must be a string or null, if provided."
    return None


def request_error(payload: dict[str, Any]) -> bool:
    """Whether a GraphQL answer reports a request error: errors without a path and no `data`.

    Parse, validation, variables and cost errors: the request never reached execution, which
    GraphQL over HTTP answers under application/graphql-response+json without `data`, with a 4xx.
    """
    errors = payload.get("errors") or []
    return bool(errors) and payload.get("data") is None and not any(e.get("path") for e in errors)


def as_graphql_response(response: Response) -> Response:
    """Re-label a JSON GraphQL response; a request error (nothing executed) becomes a 400."""
    if response.status_code != 200 or not response.body:
        return response
    try:
        payload = orjson.loads(bytes(response.body))
    except orjson.JSONDecodeError:
        return response
    status = 200
    if isinstance(payload, dict) and request_error(payload):
        payload.pop("data", None)
        status = 400
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers["content-type"] = GRAPHQL_RESPONSE
    return Response(orjson.dumps(payload), status_code=status, headers=headers)
