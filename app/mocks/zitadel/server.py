"""Mock of ZITADEL Session Service v2 over its REST (grpc-gateway) transcoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.mocks.calls import CALLS, record_calls
from app.mocks.credentials import Credentials
from app.mocks.data import MockData
from app.mocks.faults import ErrorShape, fault_middleware, install_faults
from app.mocks.order import Ordering
from app.mocks.timestamps import parse_iso_ns, rfc3339_ns, to_ns
from app.mocks.zitadel.search import InvalidArgument, parse_search

__all__ = ["create_app", "grpc_error"]

_HTTP_STATUS = {3: 400, 5: 404, 7: 403, 8: 429, 9: 400, 12: 501, 13: 500, 14: 503, 16: 401}
# RESOURCE_EXHAUSTED, INTERNAL and UNAVAILABLE, as grpc-gateway renders them: no ZITADEL detail.
_FAULT_ERRORS = {
    429: (8, "rate limit exceeded"),
    500: (13, "internal error"),
    503: (14, "unavailable"),
}


def grpc_error(code: int, message: str, detail_id: str) -> web.Response:
    """A gRPC status body as grpc-gateway renders it, with ZITADEL's error detail."""
    detail = {
        "@type": "type.googleapis.com/zitadel.v1.ErrorDetail",
        "id": detail_id,
        "message": message,
    }
    body = {"code": code, "message": f"{message} ({detail_id})", "details": [detail]}
    return web.json_response(body, status=_HTTP_STATUS[code])


def _fault_error(status: int) -> web.Response:
    code, message = _FAULT_ERRORS[status]
    return web.json_response({"code": code, "message": message, "details": []}, status=status)


def _unauthorized(request: web.Request) -> web.Response:
    if "Authorization" not in request.headers:
        return grpc_error(16, "auth header missing", "AUTH-7fs1e")
    return grpc_error(16, "Errors.Token.Invalid", "AUTH-7fs1e")


def _now() -> str:
    return rfc3339_ns(to_ns(datetime.now(UTC)), 6)


class _Api:
    """Request handlers over one data set."""

    def __init__(self, data: MockData, credentials: Credentials) -> None:
        self.data = data
        self.credentials = credentials
        # Stands in for the instance's event sequence; it only grows.
        self.sequence = 1000 + sum(int(s["sequence"]) for s in data.zitadel)
        # When the sessions projection last reduced an event (ListDetails.timestamp, "the last
        # time the projection got updated"): a list answer repeats until something changes.
        self.updated = _now()
        # Creation dates and ids never change: the order is kept between requests.
        self.order = Ordering(lambda s: (parse_iso_ns(s["creationDate"]), s["id"]))

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Check the bearer token; map bad input and unknown routes to gRPC status bodies."""
        if request.headers.get("Authorization") != f"Bearer {self.credentials.zitadel_token}":
            return _unauthorized(request)
        try:
            return await handler(request)
        except InvalidArgument as exc:
            return grpc_error(3, str(exc), "SESSION-Qw9xr")
        except web.HTTPNotFound:
            return web.json_response({"code": 5, "message": "Not Found", "details": []}, status=404)
        except web.HTTPMethodNotAllowed:
            body = {"code": 12, "message": "Method Not Allowed", "details": []}
            return web.json_response(body, status=501)

    async def body(self, request: web.Request) -> Any:
        """The JSON body; an empty one is an empty message, as in grpc-gateway."""
        text = await request.text()
        try:
            return json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"invalid JSON body: {exc.msg}") from None

    def find(self, request: web.Request) -> dict[str, Any] | None:
        """The session named in the path, if it exists."""
        session_id = request.match_info["session_id"]
        return next((s for s in self.data.zitadel if s["id"] == session_id), None)

    async def search(self, request: web.Request) -> web.Response:
        """`POST /v2/sessions/search`: ListSessions."""
        data = self.data
        body = await self.body(request)
        search = parse_search(body, data.zitadel_caller_id, data.zitadel_creators)
        ordered = self.order.of(data.zitadel).items
        found = [s for s in ordered if search.matches(s)] if search.filtered else ordered
        details: dict[str, Any] = {}
        # protojson leaves out zero values and empty lists: no matches, no totalResult.
        if found:
            details["totalResult"] = str(len(found))
        details["processedSequence"] = str(self.sequence)
        details["timestamp"] = self.updated
        response: dict[str, Any] = {"details": details}
        count, offset, limit = len(found), search.offset, search.limit
        if search.asc:
            page = found[offset : offset + limit]
        else:
            page = found[max(count - offset - limit, 0) : max(count - offset, 0)][::-1]
        if page:
            response["sessions"] = page
        return web.json_response(response)

    async def get(self, request: web.Request) -> web.Response:
        """`GET /v2/sessions/{session_id}`: GetSession."""
        session = self.find(request)
        if session is None:
            return grpc_error(5, "Session not found", "QUERY-Sgh4l")
        return web.json_response({"session": session})

    async def delete(self, request: web.Request) -> web.Response:
        """`DELETE /v2/sessions/{session_id}`: DeleteSession; later reads answer NOT_FOUND."""
        await self.body(request)
        session = self.find(request)
        if session is None:
            return grpc_error(5, "Session not found", "COMMAND-Sgh4l")
        self.data.zitadel.remove(session)
        self.sequence += 1
        self.updated = _now()
        details = {
            "sequence": str(int(session["sequence"]) + 1),
            "changeDate": _now(),
            "resourceOwner": self.data.zitadel_instance_id,
        }
        return web.json_response({"details": details})


def create_app(
    data: MockData, credentials: Credentials, *, date_style: str = "iso"
) -> web.Application:
    """A ZITADEL mock serving (and, on delete, changing) `data` in place."""
    del date_style  # ZITADEL has only RFC 3339.
    api = _Api(data, credentials)
    faults = fault_middleware(ErrorShape(_fault_error, _unauthorized))
    app = web.Application(middlewares=[record_calls, faults, api.guard])
    app[CALLS] = []
    install_faults(app)
    app.router.add_post("/v2/sessions/search", api.search)
    app.router.add_get("/v2/sessions/{session_id}", api.get)
    app.router.add_delete("/v2/sessions/{session_id}", api.delete)
    return app
