"""hyper.id "api_auth" (ServiceStack): the current user's sessions and authorizations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from app.core import ids
from app.core.records import (
    AuthorizationKind,
    AuthorizationRecord,
    Deferred,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.listing.filter import SessionFilter
from app.listing.streams import LocalStream, Stream
from app.upstream._json import list_of, obj, opt_bool, opt_int, opt_str
from app.upstream.credentials import Credential
from app.upstream.endpoint import Endpoint, parse_shape
from app.upstream.provider import ProviderSettings, RequestScope, SessionProvider, is_set, secret
from app.upstream.providers.hyperid.records import HyperIdExtras
from app.upstream.timestamps import parse_servicestack

# hyper.id answers for the cookie's user only and names no user id; every session is theirs.
CURRENT_USER = "current"
_CURRENT_USER_RECORD = UserRecord(Provider.HYPERID, CURRENT_USER)  # frozen: one for all
_SESSION_ID = re.compile(r"^[0-9]{1,19}$")


def is_session_id(value: str) -> bool:
    """Whether `value` can be a hyper.id session id (an int64)."""
    return _SESSION_ID.match(value) is not None


class HyperIdClient:
    """The parts of hyper.id's api_auth service that the gateway uses."""

    provider = Provider.HYPERID

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def list(self) -> tuple[list[SessionRecord], Sequence[AuthorizationRecord]]:
        """Every session of the current user, and the app authorizations they granted."""
        listing = await self._endpoint.call("GET", "/api/sessions", _parse_list, keep=True)
        return listing

    async def get(self, session_id: str) -> SessionRecord | None:
        """One session by id, or None when hyper.id does not know it."""
        now = datetime.now(UTC)
        return await self._endpoint.call(
            "GET",
            "/api/session",
            lambda p: parse_session(obj(p), now),
            params={"ID": session_id},
            expected={404: None},
        )

    async def logout(self, session_id: str | None = None) -> RevokeOutcome:
        """End one session of the current user, or (no id) all of them."""
        body: dict[str, object] = (
            {"SessionID": int(session_id)} if session_id else {"AllSessions": True}
        )
        return await self._endpoint.call(
            "POST",
            "/api/logout",
            lambda _: RevokeOutcome.REVOKED,
            body=body,
            expected={404: RevokeOutcome.NOT_FOUND},
        )


Listing = tuple[list[SessionRecord], Sequence[AuthorizationRecord]]


class HyperIdSettings(ProviderSettings):
    """GATEWAY_HYPERID_URL, and _COOKIE (the session cookie) or _FORWARD_HEADER."""

    cookie: SecretStr | None = None

    own_credential = "{P}COOKIE"

    def has_own_credential(self) -> bool:
        return is_set(self.cookie)


class HyperIdProvider(SessionProvider):
    """hyper.id: one listing of the cookie's user answers everything, ordered and filtered here."""

    provider = Provider.HYPERID
    title = "hyper.id"
    description = "Sessions from hyper.id: the signed-in user's own."
    # A logout deletes the session: the gateway answers with the one it read before.
    ended_status = SessionStatus.LOGGED_OUT
    deletes_revoked = True
    settings_class = HyperIdSettings
    credential_header = "Cookie"  # hyper.id authenticates by its session cookie

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        super().__init__(endpoint, settings)
        self.client = HyperIdClient(endpoint)

    @classmethod
    def static_credential(
        cls, settings: ProviderSettings, session: aiohttp.ClientSession, url: str
    ) -> Credential:
        assert isinstance(settings, HyperIdSettings)
        return Credential({"Cookie": secret(settings.cookie)})

    async def _listing(self, scope: RequestScope) -> Listing:
        """The request's one listing, shared by the page, lookups and authorizations."""
        client = self.client

        async def load(keys: list[str]) -> list[Listing]:
            listing = await client.list()
            return [listing for _ in keys]

        found: Listing = await scope.loader("hyperid_listing", load).load(CURRENT_USER)
        return found

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        async def load() -> Sequence[SessionRecord]:
            return (await self._listing(scope))[0]

        residual = session_filter.residual(frozenset())
        return [LocalStream("HYPERID", Provider.HYPERID, load, residual, descending=descending)]

    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        wanted = set(native_ids)
        return [r for r in (await self._listing(scope))[0] if r.native_id in wanted]

    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        return _CURRENT_USER_RECORD if native_id == CURRENT_USER else None

    async def users(self, native_ids: Sequence[str], scope: RequestScope) -> dict[str, UserRecord]:
        # Its one user is known without a call.
        return {CURRENT_USER: _CURRENT_USER_RECORD} if CURRENT_USER in native_ids else {}

    async def revoke(self, native_id: str) -> RevokeOutcome:
        if not is_session_id(native_id):
            return RevokeOutcome.NOT_FOUND
        return await self.client.logout(native_id)

    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        if user_id != CURRENT_USER:
            return []
        sessions, _ = await self.client.list()
        still_open = [r for r in sessions if r.status is SessionStatus.ACTIVE]
        if still_open:
            await self.client.logout(None)
        return still_open

    async def probe(self) -> None:
        await self.client.list()

    async def authorizations(
        self, record: SessionRecord, scope: RequestScope
    ) -> Sequence[AuthorizationRecord]:
        # A session's site authorizations, then the app authorizations its user granted.
        _, apps = await self._listing(scope)
        return [*record.authorizations, *apps]


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = opt_str(data, key)
    return None if value is None else parse_servicestack(value)


def _authorization(kind: AuthorizationKind, value: Any) -> AuthorizationRecord:
    data = obj(value)
    return AuthorizationRecord(
        kind=kind,
        native_id=str(opt_int(data, "authorizationID")),
        created_at=_time(data, "creationTime"),
        expires_at=_time(data, "expirationTime"),
        scope_id=opt_int(data, "scopeID"),
        site_name=opt_str(data, "siteName"),
        site_domain=opt_str(data, "siteDomain"),
        app_hardware_name=opt_str(data, "appHardwareName"),
        app_user_name=opt_str(data, "appUserName"),
    )


def _site_authorizations(raw: list[Any]) -> tuple[AuthorizationRecord, ...]:
    """For Deferred: a session's site authorizations; a bad one is a bad response."""
    return parse_shape(
        Provider.HYPERID.value,
        lambda items: tuple([_authorization(AuthorizationKind.SITE, a) for a in items]),
        raw,
    )


def _parse_list(payload: Any) -> tuple[list[SessionRecord], Sequence[AuthorizationRecord]]:
    data = obj(payload)
    now = datetime.now(UTC)
    sessions = [parse_session(obj(s), now) for s in list_of(data, "sessions", required=True)]
    # One list per listing: parsed now, so a bad one fails the listing, once.
    apps = tuple(
        [_authorization(AuthorizationKind.APP, a) for a in list_of(data, "appAuthorizations")]
    )
    return sessions, apps


def parse_session(info: Mapping[str, Any], now: datetime) -> SessionRecord:
    """Normalise one `SessionInfo`."""
    provider = Provider.HYPERID  # read once: an Enum's class attributes are slow on 3.11
    session_id = opt_int(info, "sessionID")
    if session_id is None:
        raise KeyError("sessionID")
    native_id = str(session_id)
    created = _time(info, "creationTime")
    if created is None:
        raise KeyError("creationTime")
    expires = _time(info, "expirationTime")
    agent = obj(info.get("userAgent") or {})
    ip = opt_str(info, "ipAddress")
    restrict = opt_int(info, "restrictToSiteID")
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=SessionStatus.EXPIRED
        if expires is not None and expires <= now
        else SessionStatus.ACTIVE,
        created_at=created,
        expires_at=expires,
        remote_address=ip,
        user=_CURRENT_USER_RECORD,
        user_agent=UserAgentRecord(
            ip=ip,
            description=opt_str(agent, "name"),
            browser_name=opt_str(agent, "browserName"),
            browser_version=opt_str(agent, "browserVersion"),
            os_version=opt_str(agent, "osVersion"),
            device_name=opt_str(agent, "deviceName"),
        ),
        authorizations=Deferred(list_of(info, "siteAuthorizations"), _site_authorizations),
        extras=HyperIdExtras(
            host_name=opt_str(info, "hostName"),
            identity_provider_id=opt_int(info, "identityProviderID"),
            restrict_to_site_id=str(restrict) if restrict is not None else None,
            protection_level=opt_int(info, "protectionLevel"),
            require_confirmation=opt_bool(info, "requireConfirmation"),
            is_one_shot=opt_bool(info, "isOneShot"),
            device_type_code=opt_int(agent, "deviceType"),
            os_type_code=opt_int(agent, "osType"),
        ),
    )
