"""Mock of Prefactor API v1 sessions: list, fetch and revoke, under `/api/v1`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.mocks.calls import CALLS, record_calls
from app.mocks.credentials import Credentials
from app.mocks.data import MockData
from app.mocks.faults import ErrorShape, fault_middleware, install_faults
from app.mocks.order import Ordering
from app.mocks.prefactor.pfid import is_pfid

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "create_app", "pagination"]

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
_STATUS_BY_CODE = {
    "bad_request": 400,
    "invalid_value": 400,
    "required_value": 400,
    "invalid_action": 400,
    "unexpected_ref_type": 400,
    "bad_authtoken": 401,
    "not_authenticated": 401,
    "not_permitted": 403,
    "not_found": 404,
    "too_many_requests": 429,
    "internal_error": 500,
    "not_implemented": 501,
    "service_unavailable": 503,
}
_FAULT_ERRORS = {
    429: ("too_many_requests", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service temporarily unavailable"),
}
_FINISHED = {"complete", "revoked"}


class _Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _error(code: str, message: str) -> web.Response:
    body = {"status": "error", "code": code, "message": message}
    return web.json_response(body, status=_STATUS_BY_CODE.get(code, 500))


def _fault_error(status: int) -> web.Response:
    return _error(*_FAULT_ERRORS[status])


def _unauthorized(request: web.Request) -> web.Response:
    if "Authorization" not in request.headers:
        return _error("not_authenticated", "Authentication required")
    return _error("bad_authtoken", "Invalid authentication token")


def pagination(item_count: int, offset: int, page_size: int, shown: int) -> dict[str, Any]:
    """A `PaginationOutput` for `shown` items from `offset` out of `item_count`."""
    return {
        "item_count": item_count,
        "item_start": offset + 1 if shown else 0,
        "item_end": offset + shown if shown else 0,
        "page_count": -(-item_count // page_size),
        "page_index": offset // page_size + 1,
        "page_offset": offset,
        "page_size": page_size,
        "next_page_offset": offset + page_size if offset + page_size < item_count else None,
        "previous_page_offset": max(offset - page_size, 0) if offset > 0 else None,
    }


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _Failure("invalid_value", f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _Failure("invalid_value", f"{name} must be between {low} and {high}, got {value}")
    return value


def _envelope(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "success",
        "summary": session,
        "actions": {"revoke": session["status"] not in _FINISHED},
    }


class _Api:
    """Request handlers over one data set."""

    def __init__(self, data: MockData, credentials: Credentials) -> None:
        self.data = data
        self.credentials = credentials
        # Ids (PFIDs, in creation order) never change: the order is kept between requests.
        self.order = Ordering(lambda s: str(s["id"]))

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Check the API key and render failures in Prefactor's error envelope."""
        if request.headers.get("Authorization") != f"Bearer {self.credentials.prefactor_token}":
            return _unauthorized(request)
        try:
            return await handler(request)
        except _Failure as exc:
            return _error(exc.code, str(exc))
        except web.HTTPNotFound:
            return _error("not_found", f"No route for {request.method} {request.path}")

    def find(self, request: web.Request) -> dict[str, Any]:
        """The session named in the path."""
        session_id = request.match_info["session_id"]
        for session in self.data.prefactor:
            if session["id"] == session_id:
                return session
        raise _Failure("not_found", "Session not found")

    async def list_sessions(self, request: web.Request) -> web.Response:
        """`GET /api/v1/session?pool_id=...`: one pool's sessions, oldest first."""
        pool_id = request.query.get("pool_id", "")
        if not pool_id:
            raise _Failure("required_value", "pool_id is required")
        identity = request.query.get("authenticated_identity_id")
        for name, value in (("pool_id", pool_id), ("authenticated_identity_id", identity)):
            if value is not None and not is_pfid(value):
                raise _Failure("invalid_value", f"{name} is not a valid id: {value!r}")
        offset = _int_param(request, "pagination[offset]", 0, 0, 2**31)
        page_size = _int_param(
            request, "pagination[page_size]", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE
        )
        found = [
            s
            for s in self.order.of(self.data.prefactor).items
            if s["pool_id"] == pool_id
            and (identity is None or s["authenticated_identity_id"] == identity)
        ]
        page = found[offset : offset + page_size]
        return web.json_response(
            {
                "status": "success",
                "summaries": page,
                "pagination": pagination(len(found), offset, page_size, len(page)),
                "sorting": None,
            }
        )

    async def fetch(self, request: web.Request) -> web.Response:
        """`GET /api/v1/session/{session_id}`."""
        return web.json_response(_envelope(self.find(request)))

    async def revoke(self, request: web.Request) -> web.Response:
        """`POST /api/v1/session/{session_id}/revoke`; finished sessions cannot be revoked."""
        session = self.find(request)
        if session["status"] in _FINISHED:
            raise _Failure("invalid_action", f"Session is already {session['status']}")
        session["status"] = "revoked"
        return web.json_response(_envelope(session))


def create_app(
    data: MockData, credentials: Credentials, *, date_style: str = "iso"
) -> web.Application:
    """A Prefactor mock serving (and, on revoke, changing) `data` in place."""
    del date_style  # Prefactor has only Unix seconds.
    api = _Api(data, credentials)
    faults = fault_middleware(ErrorShape(_fault_error, _unauthorized))
    app = web.Application(middlewares=[record_calls, faults, api.guard])
    app[CALLS] = []
    install_faults(app)
    app.router.add_get("/api/v1/session", api.list_sessions)
    app.router.add_get("/api/v1/session/{session_id}", api.fetch)
    app.router.add_post("/api/v1/session/{session_id}/revoke", api.revoke)
    return app
