"""Mock of the Ory Kratos admin session API: list, get, disable, per-identity list and delete.

Behaviour follows Kratos v26 (`session/handler.go`, `persistence/sql/persister_session.go`) as
docs/upstreams.md describes it, quirks included: `active` is computed when a session is read,
the per-identity listing pages with the off-by-one of Ory's kratos#3883, and errors are Ory's
`{"error": {...}}`. One difference: the keyset token keeps microseconds, where Kratos keeps
five fractional digits (which can skip sessions created within 10 µs at a page boundary).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from app.mocks.calls import CALLS, record_calls
from app.mocks.credentials import Credentials
from app.mocks.data import MockData
from app.mocks.faults import ErrorShape, fault_middleware, install_faults
from app.mocks.order import Ordering
from app.mocks.timestamps import parse_iso_ns, to_ns

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_IDENTITY_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "create_app",
    "offset_token",
    "ory_error",
    "session_token",
]

DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 1000
MAX_IDENTITY_PAGE_SIZE = 500  # the spec's maximum; Kratos itself clamps at 1000
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_FAULT_MESSAGES = {
    429: "The request was throttled due to resource exhaustion.",
    500: "An internal server error occurred, please contact the system administrator",
    503: "The service is temporarily unavailable.",
}
_MALFORMED = "The request was malformed or contained invalid parameters"
_NOT_FOUND = "Unable to locate the resource"  # sqlcon.ErrNoRows
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"
_FIRST_CREATED = "2200-12-31 23:59:59"  # Kratos's default token: after every session
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go's strconv.ParseBool
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_EXPANDABLE = frozenset({"identity", "devices"})
_EVERYTHING = _EXPANDABLE
WHOAMI_PATH = "/sessions/whoami"


class _Failure(Exception):
    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def ory_error(status: int, message: str, reason: str | None = None) -> web.Response:
    """Ory's JSON API error (herodot): `{"error": {code, status, reason?, message}}`."""
    error: dict[str, Any] = {"code": status, "status": _STATUS_TEXT[status]}
    if reason:
        error["reason"] = reason
    error["message"] = message
    return web.json_response({"error": error}, status=status)


def _fault_error(status: int) -> web.Response:
    return ory_error(status, _FAULT_MESSAGES[status])


def _unauthorized(request: web.Request) -> web.Response:
    del request  # Ory Network answers a missing and a wrong key alike
    return ory_error(401, "The request could not be authorized")


def session_token(session_id: str) -> str:
    """The mock's session token of a session (Kratos's are opaque; here one is made from the id,
    so tests and the demo can hold the token of any session)."""
    return f"ory_st_{session_id.replace('-', '')}"


def _uuid(value: str) -> str:
    if not _UUID.match(value):
        raise _Failure(400, f'uuid: incorrect UUID format in string "{value}"')
    return value.lower()


def _active_param(request: web.Request) -> bool | None:
    raw = request.query.get("active", "")
    if raw == "":
        return None
    if raw not in _TRUE | _FALSE:
        raise _Failure(400, "could not parse parameter active")
    return raw in _TRUE


def _expand(request: web.Request) -> frozenset[str]:
    found = set()
    for value in request.query.getall("expand", []):
        if value.lower() not in _EXPANDABLE:
            raise _Failure(400, _MALFORMED, f"Could not parse expand option: {value}")
        found.add(value.lower())
    return frozenset(found)


def _keyset_created(ns: int) -> str:
    """A created_at in the token's layout (`2006-01-02 15:04:05.999999`)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    moment = datetime(1970, 1, 1) + timedelta(seconds=seconds)
    fraction = f"{nanos // 1000:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "")


def _keyset_ns(text: str) -> int:
    head, _, fraction = text.partition(".")
    whole = datetime.strptime(head, "%Y-%m-%d %H:%M:%S") - datetime(1970, 1, 1)
    return int(whole.total_seconds()) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def keyset_token(session_id: str, created: str) -> str:
    """Kratos's MapPageToken: unpadded standard base64 of `id=…/created_at=…`."""
    text = f"id={session_id}/created_at={created}"
    return base64.b64encode(text.encode()).decode().rstrip("=")


def _parse_keyset(token: str) -> tuple[str, int]:
    try:
        text = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _Failure(400, "could not parse parameter page_size") from None
    fields = dict(part.partition("=")[::2] for part in text.split("/"))
    session_id = fields.get("id", "")
    if not _UUID.match(session_id):
        reason = "The page token is invalid, do not craft your own page tokens"
        raise _Failure(400, _MALFORMED, reason)
    try:
        created = _keyset_ns(fields.get("created_at", _FIRST_CREATED))
    except ValueError:
        created = _keyset_ns(_FIRST_CREATED)
    return session_id, created


def offset_token(offset: int) -> str:
    """The per-identity listing's token: unpadded base64url of `{"offset":"N","v":2}`."""
    text = json.dumps({"offset": str(offset), "v": 2}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["offset"])
    except (ValueError, TypeError, KeyError, binascii.Error):
        return 0  # Kratos ignores a token it cannot read


def _link(request: web.Request, rel: str, **params: str) -> str:
    """One `Link` entry: the request's own path and query with `params` set, keys sorted."""
    query = [(k, v) for k, v in request.query.items() if k not in params]
    query += list(params.items())
    query.sort(key=lambda item: item[0])  # Go's url.Values.Encode sorts by key
    return f'<{request.path}?{urlencode(query)}>; rel="{rel}"'


class _Api:
    """Request handlers over one data set, on a clock that starts at the data's `now`."""

    def __init__(self, data: MockData, credentials: Credentials) -> None:
        self.data = data
        self.credentials = credentials
        self._started = time.monotonic()
        # Newest first (issued_at descending, then id), as Kratos orders sessions; issue times
        # and ids never change, so the order is kept between requests.
        self.order = Ordering(lambda s: (-parse_iso_ns(s["issued_at"]), s["id"]))

    def now_ns(self) -> int:
        """Now on the mock's clock: the data's `now` plus the time the app has been up."""
        return to_ns(self.data.now + timedelta(seconds=time.monotonic() - self._started))

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Check the API key if one is configured; render failures as Ory errors."""
        token = self.credentials.kratos_token
        public = request.path == WHOAMI_PATH  # the public API takes the caller's own token
        if token and not public and request.headers.get("Authorization") != f"Bearer {token}":
            return _unauthorized(request)
        try:
            return await handler(request)
        except _Failure as exc:
            return ory_error(exc.status, exc.message, exc.reason)
        except web.HTTPNotFound:
            return ory_error(404, "The requested resource could not be found")
        except web.HTTPMethodNotAllowed:
            return ory_error(405, "The requested method is not allowed")

    def is_active(self, session: dict[str, Any], with_identity: bool, now: int) -> bool:
        """Kratos's Session.IsActive; the identity counts only when it was loaded."""
        live = bool(session["active"]) and parse_iso_ns(session["expires_at"]) > now
        return live and (not with_identity or session["identity"]["state"] == "active")

    def matches(self, session: dict[str, Any], active: bool | None, now: int) -> bool:
        """The SQL `active` filter: the stored flag and expiry, never the identity's state."""
        if active is None:
            return True
        live = bool(session["active"]) and parse_iso_ns(session["expires_at"]) >= now
        return live is active

    def render(
        self, session: dict[str, Any], expand: frozenset[str], now: int, *, listed: bool
    ) -> dict[str, Any]:
        """The session as the API shows it; unexpanded relations are null (or `[]` devices)."""
        shown = dict(session)
        shown["active"] = self.is_active(session, "identity" in expand, now)
        if "identity" not in expand:
            shown["identity"] = None
        if "devices" not in expand:
            shown["devices"] = None if listed else []
        return shown

    def find(self, request: web.Request) -> dict[str, Any]:
        """The session named in the path."""
        session_id = _uuid(request.match_info["session_id"])
        for session in self.data.kratos:
            if session["id"] == session_id:
                return session
        raise _Failure(404, _NOT_FOUND)

    async def list_sessions(self, request: web.Request) -> web.Response:
        """`GET /admin/sessions`: every session, newest first, keyset pages."""
        active = _active_param(request)
        raw_size = request.query.get("page_size", "")
        try:
            size = int(raw_size) if raw_size else DEFAULT_PAGE_SIZE
        except ValueError:
            raise _Failure(400, "could not parse parameter page_size") from None
        size = DEFAULT_PAGE_SIZE if size <= 0 else min(size, MAX_PAGE_SIZE)
        after_id, after_created = _NIL_UUID, _keyset_ns(_FIRST_CREATED)
        if request.query.get("page_token"):
            after_id, after_created = _parse_keyset(request.query["page_token"])
        expand = _expand(request)
        now = self.now_ns()

        ordering = self.order.of(self.data.kratos)
        found: list[dict[str, Any]] = []
        # One more than the page, to know whether a next page exists.
        for session in ordering.items[ordering.after((-after_created, after_id)) :]:
            if self.matches(session, active, now):
                found.append(session)
                if len(found) > size:
                    break
        page = found[:size]
        first = keyset_token(_NIL_UUID, _FIRST_CREATED)
        links = [_link(request, "first", page_size=str(size), page_token=first)]
        if len(found) > size:
            last = page[-1]
            token = keyset_token(last["id"], _keyset_created(parse_iso_ns(last["issued_at"])))
            links.append(_link(request, "next", page_size=str(size), page_token=token))
        body = [self.render(s, expand, now, listed=True) for s in page]
        return web.json_response(body, headers={"Link": ",".join(links)})

    async def get(self, request: web.Request) -> web.Response:
        """`GET /admin/sessions/{id}`."""
        session = self.find(request)
        expand = _expand(request)
        return web.json_response(self.render(session, expand, self.now_ns(), listed=False))

    async def whoami(self, request: web.Request) -> web.Response:
        """`GET /sessions/whoami` (public API): the active session a session token is."""
        token = request.headers.get("X-Session-Token", "")
        now = self.now_ns()
        for session in self.data.kratos:
            if session_token(session["id"]) == token and self.is_active(session, True, now):
                return web.json_response(self.render(session, _EVERYTHING, now, listed=False))
        raise _Failure(401, "No valid session credentials found in the request.", "unauthorized")

    async def disable(self, request: web.Request) -> web.Response:
        """`DELETE /admin/sessions/{id}`: the session stays, inactive."""
        self.find(request)["active"] = False
        return web.Response(status=204)

    async def identity_sessions(self, request: web.Request) -> web.Response:
        """`GET /admin/identities/{id}/sessions`: newest first, identity and devices expanded."""
        identity_id = _uuid(request.match_info["identity_id"])
        active = _active_param(request)
        page, size = _identity_page(request)
        now = self.now_ns()
        found = sorted(
            (
                s
                for s in self.data.kratos
                if s["identity"]["id"] == identity_id and self.matches(s, active, now)
            ),
            key=lambda s: (-parse_iso_ns(s["issued_at"]), s["id"]),
        )
        # pop's Paginate counts pages from 1 and reads 0 as 1; the token's page counts from 0.
        start = (max(page, 1) - 1) * size
        everything = frozenset(_EXPANDABLE)
        body = [self.render(s, everything, now, listed=True) for s in found[start : start + size]]
        headers = _offset_headers(request, len(found), page, size)
        return web.json_response(body, headers=headers)

    async def delete_identity_sessions(self, request: web.Request) -> web.Response:
        """`DELETE /admin/identities/{id}/sessions`: 404 when there was nothing to delete."""
        identity_id = _uuid(request.match_info["identity_id"])
        kept = [s for s in self.data.kratos if s["identity"]["id"] != identity_id]
        if len(kept) == len(self.data.kratos):
            raise _Failure(404, _NOT_FOUND)
        self.data.kratos[:] = kept
        return web.Response(status=204)


def _int_or(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def _identity_page(request: web.Request) -> tuple[int, int]:
    """(page counted from 0, page size) as Kratos's migration paginator reads them."""
    query = request.query
    if "page_token" in query or "page_size" in query:
        size = _int_or(query.get("page_size"), DEFAULT_PAGE_SIZE)
        size = max(1, min(size, MAX_IDENTITY_PAGE_SIZE))
        offset = _offset(query.get("page_token", ""))
        return max(offset // size, 0), size
    size = max(1, min(_int_or(query.get("per_page"), DEFAULT_PAGE_SIZE), MAX_IDENTITY_PAGE_SIZE))
    return max(_int_or(query.get("page"), 0), 0), size


def _offset_headers(request: web.Request, total: int, page: int, size: int) -> dict[str, str]:
    """`X-Total-Count` and `Link` as ory/x's pagination.HeaderWithFormatter writes them."""

    def link(rel: str, per_page: int, offset: int) -> str:
        return _link(
            request,
            rel,
            page_size=str(per_page),
            page_token=offset_token(offset),
            per_page=str(per_page),
            page=str(offset // per_page),
        )

    offset = page * size
    last = total - size if total % size == 0 else (total // size) * size
    links: list[tuple[str, int, int]]
    if offset >= last:
        if total == 0:
            links = [("first", size, 0), ("next", size, (page + 1) * size)]
            links.append(("prev", size, (page - 1) * size))
        elif total <= size:
            links = [("first", total, 0)]
        else:
            links = [("first", size, 0), ("prev", size, last - size)]
    elif offset < size:
        links = [("next", size, size), ("last", size, last)]
    else:
        links = [("first", size, 0), ("next", size, (page + 1) * size)]
        links += [("prev", size, (page - 1) * size), ("last", size, last)]
    return {"X-Total-Count": str(total), "Link": ",".join(link(*entry) for entry in links)}


def create_app(
    data: MockData, credentials: Credentials, *, date_style: str = "iso"
) -> web.Application:
    """A Kratos mock serving (and, on disable or delete, changing) `data` in place."""
    del date_style  # Kratos has only RFC 3339.
    api = _Api(data, credentials)
    faults = fault_middleware(ErrorShape(_fault_error, _unauthorized))
    app = web.Application(middlewares=[record_calls, faults, api.guard])
    app[CALLS] = []
    install_faults(app)
    app.router.add_get("/admin/sessions", api.list_sessions)
    app.router.add_get(WHOAMI_PATH, api.whoami)
    app.router.add_get("/admin/sessions/{session_id}", api.get)
    app.router.add_delete("/admin/sessions/{session_id}", api.disable)
    app.router.add_get("/admin/identities/{identity_id}/sessions", api.identity_sessions)
    app.router.add_delete("/admin/identities/{identity_id}/sessions", api.delete_identity_sessions)
    return app
