"""Mock of hyper.id's "api_auth" ServiceStack service: the logged-in user's sessions."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.mocks.calls import CALLS, record_calls
from app.mocks.credentials import Credentials
from app.mocks.data import MockData
from app.mocks.faults import ErrorShape, fault_middleware, install_faults
from app.mocks.timestamps import wcf_date

__all__ = ["DATE_STYLES", "SESSION_COOKIES", "create_app"]

DATE_STYLES = ("iso", "wcf")
SESSION_COOKIES = ("ss-id", "ss-pid")
_DATE_KEYS = {"creationTime", "expirationTime"}
_FAULT_ERRORS = {
    429: ("TooManyRequests", "Too Many Requests"),
    500: ("Exception", "An unexpected error occurred"),
    503: ("ServiceUnavailable", "Service Unavailable"),
}


class _Failure(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.errors = errors or []


def _error(status: int, code: str, message: str, errors: list[Any]) -> web.Response:
    body = {"responseStatus": {"errorCode": code, "message": message, "errors": errors}}
    return web.json_response(body, status=status)


def _fault_error(status: int) -> web.Response:
    return _error(status, *_FAULT_ERRORS[status], [])


def _unauthorized(request: web.Request) -> web.Response:
    return _error(401, "Unauthorized", "Not Authenticated", [])


def _bad_value(field: str, value: object, dto: str) -> _Failure:
    # What ServiceStack answers when a value cannot be bound to the request DTO.
    error = {
        "errorCode": "SerializationException",
        "fieldName": field,
        "message": f"'{value}' is an Invalid value for '{field}'",
    }
    return _Failure(400, "SerializationException", f"Unable to bind to request '{dto}'", [error])


def _long(value: object, field: str, dto: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _bad_value(field, value, dto)
    try:
        return int(value)
    except ValueError:
        raise _bad_value(field, value, dto) from None


def _flag(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise _bad_value(field, value, "LogoutRequest")


def _to_wcf(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_wcf(item) for item in value]
    if isinstance(value, dict):
        return {k: wcf_date(v) if k in _DATE_KEYS else _to_wcf(v) for k, v in value.items()}
    return value


class _Api:
    """Request handlers over one data set."""

    def __init__(self, data: MockData, credentials: Credentials, date_style: str) -> None:
        if date_style not in DATE_STYLES:
            raise ValueError(f"date_style must be one of {DATE_STYLES}, got {date_style!r}")
        self.data = data
        self.credentials = credentials
        self.date_style = date_style

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Require the session cookie; render failures as ServiceStack error bodies."""
        secret = self.credentials.hyperid_session
        if not any(request.cookies.get(name) == secret for name in SESSION_COOKIES):
            return _unauthorized(request)
        try:
            return await handler(request)
        except _Failure as exc:
            return _error(exc.status, exc.code, str(exc), exc.errors)
        except web.HTTPNotFound:
            message = f"Handler for Request not found: {request.method} {request.path}"
            return _error(404, "NotFound", message, [])

    def render(self, value: Any) -> Any:
        """`value` with its dates in the configured style (stored data is ISO 8601)."""
        if self.date_style == "iso":
            return value
        return _to_wcf(value)

    async def sessions(self, request: web.Request) -> web.Response:
        """`GET /api/sessions`: all sessions and app authorizations of the user."""
        body = {
            "sessions": self.data.hyperid_sessions,
            "appAuthorizations": self.data.hyperid_app_authorizations,
        }
        return web.json_response(self.render(body))

    async def session(self, request: web.Request) -> web.Response:
        """`GET /api/session?ID=...`: one session of the user."""
        # ServiceStack binds query parameters case-insensitively.
        raw = next((v for k, v in request.query.items() if k.lower() == "id"), None)
        if raw is None:
            message = "'ID' must not be empty."
            error = {"errorCode": "NotEmpty", "fieldName": "ID", "message": message}
            raise _Failure(400, "NotEmpty", message, [error])
        session_id = _long(raw, "ID", "SessionRequest")
        for session in self.data.hyperid_sessions:
            if session["sessionID"] == session_id:
                return web.json_response(self.render(session))
        raise _Failure(404, "NotFound", f"Session {session_id} not found")

    async def logout(self, request: web.Request) -> web.Response:
        """`POST /api/logout`: end one session, all sessions and/or all app authorizations."""
        text = await request.text()
        try:
            body = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            message = "Unable to bind to request 'LogoutRequest'"
            raise _Failure(400, "SerializationException", message)
        fields = {str(key).lower(): value for key, value in body.items() if value is not None}
        data = self.data
        if "sessionid" in fields:
            session_id = _long(fields["sessionid"], "SessionID", "LogoutRequest")
            remaining = [s for s in data.hyperid_sessions if s["sessionID"] != session_id]
            if len(remaining) == len(data.hyperid_sessions):
                raise _Failure(404, "NotFound", f"Session {session_id} not found")
            data.hyperid_sessions[:] = remaining
        if _flag(fields.get("allsessions", False), "AllSessions"):
            data.hyperid_sessions.clear()
        if _flag(fields.get("allapps", False), "AllApps"):
            data.hyperid_app_authorizations.clear()
        return web.Response(status=204)


def create_app(
    data: MockData, credentials: Credentials, *, date_style: str = "iso"
) -> web.Application:
    """A hyper.id mock serving (and, on logout, changing) `data`; "wcf" dates are `/Date(ms)/`."""
    api = _Api(data, credentials, date_style)
    faults = fault_middleware(ErrorShape(_fault_error, _unauthorized))
    app = web.Application(middlewares=[record_calls, faults, api.guard])
    app[CALLS] = []
    install_faults(app)
    app.router.add_get("/api/sessions", api.sessions)
    app.router.add_get("/api/session", api.session)
    app.router.add_post("/api/logout", api.logout)
    return app
