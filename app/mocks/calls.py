"""Recording of the requests a mock upstream receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["CALLS", "Call", "record_calls"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a mock upstream received it."""

    method: str
    path: str
    query_string: str
    body: str
    # Left out of equality so tests can compare calls by the four fields above.
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


CALLS = web.AppKey("calls", list[Call])


@web.middleware
async def record_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Append every request, accepted or not, to `request.app[CALLS]`."""
    body = (await request.read()).decode("utf-8", errors="replace")
    call = Call(request.method, request.path, request.query_string, body, dict(request.headers))
    request.app[CALLS].append(call)
    return await handler(request)
