"""Mock of the PrivX `auth` service's sessionstorage API, under `/auth/api/v1`."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.mocks.calls import CALLS, record_calls
from app.mocks.credentials import Credentials
from app.mocks.data import MockData
from app.mocks.faults import ErrorShape, fault_middleware, install_faults
from app.mocks.order import Ordering

__all__ = ["BASE", "SORT_KEYS", "create_app"]

BASE = "/auth/api/v1/sessionstorage"
TOKEN_PATH = "/auth/api/v1/oauth/token"
# Sort keys as the API names them, mapped to the field they sort by.
SORT_KEYS = {
    "id": "id",
    "user_id": "user_id",
    "source_id": "source_id",
    "parent_session_id": "parent_session_id",
    "domain": "domain",
    "username": "username",
    "remote_address": "remote_addr",
    "type": "type",
    "created": "created",
    "updated": "updated",
    "expires": "expires",
    "token_expires": "token_expires",
}
Predicate = Callable[[dict[str, Any]], bool]
_KEYWORD_FIELDS = ("username", "remote_addr", "user_agent", "domain")
_FAULT_ERRORS = {
    429: ("TOO_MANY_REQUESTS", "rate limit exceeded"),
    500: ("INTERNAL_ERROR", "internal server error"),
    503: ("SERVICE_UNAVAILABLE", "service unavailable"),
}


class _BadRequest(Exception):
    def __init__(self, message: str, prop: str = "") -> None:
        super().__init__(message)
        self.prop = prop


def _error(status: int, code: str, message: str, prop: str = "") -> web.Response:
    body = {"error_code": code, "error_message": message, "property": prop, "details": []}
    return web.json_response(body, status=status)


def _fault_error(status: int) -> web.Response:
    return _error(status, *_FAULT_ERRORS[status])


def _unauthorized(request: web.Request) -> web.Response:
    return _error(401, "UNAUTHORIZED", "OAuth2 authorization missing or invalid")


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"invalid value for {name}: {raw!r} is not an integer", name) from None
    if value < 0:
        raise _BadRequest(f"invalid value for {name}: {value} is negative", name)
    return value


def _sort_key(field: str) -> Callable[[dict[str, Any]], tuple[str, str]]:
    """How a listing sorted by `field` orders sessions: ties by id."""
    return lambda s: (str(s.get(field) or ""), str(s["id"]))


class _Api:
    """Request handlers over one data set."""

    def __init__(self, data: MockData, credentials: Credentials) -> None:
        self.data = data
        self.credentials = credentials
        self.issued: dict[str, float] = {}  # access token -> expiry (time.monotonic)
        # Fields that never change once a session exists: their order is kept between requests.
        self.orders = {field: Ordering(_sort_key(field)) for field in ("id", "created")}

    def _authorized(self, header: str | None) -> bool:
        if header == f"Bearer {self.credentials.privx_token}":
            return True
        token = (header or "").removeprefix("Bearer ")
        expiry = self.issued.get(token)
        return expiry is not None and time.monotonic() < expiry

    async def token(self, request: web.Request) -> web.Response:
        """`POST /auth/api/v1/oauth/token`: the OAuth2 password grant of API clients."""
        creds = self.credentials
        expected = base64.b64encode(
            f"{creds.privx_oauth_client_id}:{creds.privx_oauth_client_secret}".encode()
        ).decode()
        form = await request.post()
        if (
            request.headers.get("Authorization") != f"Basic {expected}"
            or form.get("grant_type") != "password"
            or form.get("username") != creds.privx_api_client_id
            or form.get("password") != creds.privx_api_client_secret
        ):
            return _error(401, "UNAUTHORIZED", "invalid client credentials")
        access = secrets.token_urlsafe(24)
        self.issued[access] = time.monotonic() + creds.privx_token_lifetime
        return web.json_response(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": creds.privx_token_lifetime,
                "refresh_token": secrets.token_urlsafe(24),
            }
        )

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Check the bearer token and turn bad parameters into PrivX 400 errors."""
        if request.path == TOKEN_PATH:
            return await handler(request)
        if not self._authorized(request.headers.get("Authorization")):
            return _unauthorized(request)
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _error(400, "BAD_REQUEST", str(exc), exc.prop)
        except web.HTTPNotFound:
            return _error(404, "NOT_FOUND", f"no such endpoint: {request.path}")

    def page(self, request: web.Request, matches: Predicate | None) -> web.Response:
        """The sessions `matches` keeps, sorted and sliced per offset/limit/sortkey/sortdir,
        wrapped in `{count, items}`."""
        offset = _int_param(request, "offset", 0)
        limit = _int_param(request, "limit", 50)
        sortkey = request.query.get("sortkey", "expires")
        if sortkey not in SORT_KEYS:
            raise _BadRequest(f"invalid sortkey: {sortkey!r}", "sortkey")
        sortdir = request.query.get("sortdir", "ASC").upper()
        if sortdir not in {"ASC", "DESC"}:
            raise _BadRequest(f"invalid sortdir: {request.query['sortdir']!r}", "sortdir")
        field = SORT_KEYS[sortkey]
        ordering = self.orders.get(field)
        if ordering is not None:  # a field that never changes: sorted once
            ordered = ordering.of(self.data.privx).items
        else:
            ordered = sorted(self.data.privx, key=_sort_key(field))
        found = ordered if matches is None else [s for s in ordered if matches(s)]
        count = len(found)
        if sortdir == "DESC":
            items = found[max(count - offset - limit, 0) : max(count - offset, 0)][::-1]
        else:
            items = found[offset : offset + limit]
        return web.json_response({"count": count, "items": items})

    async def search(self, request: web.Request) -> web.Response:
        """`POST /sessions/search`: filter by user_id, type and keywords."""
        text = await request.text()
        try:
            body = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            raise _BadRequest("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest("request body must be a JSON object")
        for name in ("user_id", "type", "keywords"):
            if not isinstance(body.get(name, ""), str):
                raise _BadRequest(f"{name} must be a string", name)
        user_id, kind = body.get("user_id") or "", body.get("type") or ""
        keywords = (body.get("keywords") or "").lower()
        if not (user_id or kind or keywords):
            return self.page(request, None)

        def matches(session: dict[str, Any]) -> bool:
            texts = (str(session.get(f, "")).lower() for f in _KEYWORD_FIELDS)
            return (
                (not user_id or session["user_id"] == user_id)
                and (not kind or session["type"] == kind)
                and (not keywords or any(keywords in text for text in texts))
            )

        return self.page(request, matches)

    async def user_sessions(self, request: web.Request) -> web.Response:
        """`GET /users/{user_id}/sessions`; `current` is the token's own user."""
        user_id = request.match_info["user_id"]
        if user_id == "current":
            user_id = self.data.privx_token_user_id
        return self.page(request, lambda s: s["user_id"] == user_id)

    async def source_sessions(self, request: web.Request) -> web.Response:
        """`GET /sources/{source_id}/sessions`."""
        source_id = request.match_info["source_id"]
        return self.page(request, lambda s: s["source_id"] == source_id)

    async def terminate(self, request: web.Request) -> web.Response:
        """`POST /sessions/{session_id}/terminate`: log out it and its children."""
        session_id = request.match_info["session_id"]
        if not any(s["id"] == session_id for s in self.data.privx):
            return _error(404, "NOT_FOUND", f"session {session_id} not found", "session_id")
        for session in self.data.privx:
            if session_id in {session["id"], session.get("parent_session_id")}:
                session["logged_out"] = True
        return web.Response(status=200)

    async def terminate_user(self, request: web.Request) -> web.Response:
        """`POST /users/{user_id}/sessions/terminate`: log out every session of a user."""
        user_id = request.match_info["user_id"]
        if user_id == "current":
            user_id = self.data.privx_token_user_id
        for session in self.data.privx:
            if session["user_id"] == user_id:
                session["logged_out"] = True
        return web.Response(status=200)


def create_app(
    data: MockData, credentials: Credentials, *, date_style: str = "iso"
) -> web.Application:
    """A PrivX mock serving (and, on terminate, changing) `data` in place."""
    del date_style  # PrivX has only RFC 3339.
    api = _Api(data, credentials)
    faults = fault_middleware(ErrorShape(_fault_error, _unauthorized))
    app = web.Application(middlewares=[record_calls, faults, api.guard])
    app[CALLS] = []
    install_faults(app)
    app.router.add_post(TOKEN_PATH, api.token)
    app.router.add_post(f"{BASE}/sessions/search", api.search)
    app.router.add_get(f"{BASE}/users/{{user_id}}/sessions", api.user_sessions)
    app.router.add_get(f"{BASE}/sources/{{source_id}}/sessions", api.source_sessions)
    app.router.add_post(f"{BASE}/sessions/{{session_id}}/terminate", api.terminate)
    app.router.add_post(f"{BASE}/users/{{user_id}}/sessions/terminate", api.terminate_user)
    return app
