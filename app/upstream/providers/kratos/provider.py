"""Ory Kratos admin session API (self-hosted Kratos and Ory Network share the paths)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
from multidict import MultiDict
from pydantic import SecretStr, field_validator

from app.core import ids
from app.core.records import (
    FactorRecord,
    FactorsRecord,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.listing.filter import Part, Predicate, SessionFilter
from app.listing.streams import LocalStream, Stream, Token
from app.listing.streams import Page as StreamPage
from app.upstream._json import list_of, obj, opt_bool, opt_str, opt_time, req_str
from app.upstream.credentials import CALLER_HEADERS, Credential, Forwarded
from app.upstream.endpoint import Endpoint
from app.upstream.provider import (
    ProviderSettings,
    RequestScope,
    SessionProvider,
    fetch_each,
    first_user,
    origin,
    secret,
)
from app.upstream.providers.kratos.records import (
    KratosDeviceRecord,
    KratosExtras,
    KratosMethodRecord,
)

# GET /admin/sessions: 250 by default, and Kratos clamps anything above 1000 to 1000.
MAX_PAGE_SIZE = 1000
# GET /admin/identities/{id}/sessions: the spec's maximum (the server clamps at 1000).
MAX_IDENTITY_PAGE_SIZE = 500
# Concurrent single-session fetches per batch; Kratos has no multi-id lookup.
FETCH_CONCURRENCY = 8
DEFAULT_LOGIN_TRAIT = "email"
# How Kratos's public API takes a session token (the browser cookie aside).
WHOAMI_HEADER = "X-Session-Token"

# Without `expand` a listed session has `identity: null` and `devices: null`: no user at all.
_EXPAND = (("expand", "identity"), ("expand", "devices"))
# The response headers each listing's parse reads.
LINK = ("Link",)
TOTAL = ("X-Total-Count",)
# Kratos methods that are the same check as one of the common factors; the rest (code,
# profile, identifier_first, link_recovery, code_recovery, deviceauthn) stay in extras only.
_FACTORS = {
    "password": "password",
    "webauthn": "web_auth_n",
    "passkey": "web_auth_n",
    "totp": "totp",
    "lookup_secret": "recovery_code",
    "oidc": "intent",
    "saml": "intent",
}
# A page of sessions and the next page's token; one identity's sessions and their total.
Page = tuple[list[SessionRecord], str | None]
CountedPage = tuple[list[SessionRecord], int]
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LINK = re.compile(r"<([^>]*)>([^,<]*)")


def is_uuid(value: str) -> bool:
    """Whether `value` can be a Kratos id; Kratos answers 400 for anything else."""
    return _UUID.match(value) is not None


def next_page_token(link: str | None) -> str | None:
    """The `page_token` of the `rel="next"` target in a `Link` header, if there is one."""
    for match in _LINK.finditer(link or ""):
        target, parameters = match.groups()
        rels: list[str] = []
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "rel":
                rels = value.strip().strip('"').lower().split()
        if "next" in rels:
            tokens = parse_qs(urlsplit(target).query).get("page_token")
            return tokens[0] if tokens else None
    return None


class KratosClient:
    """The parts of the Kratos admin API that the gateway uses."""

    provider = Provider.KRATOS

    def __init__(self, endpoint: Endpoint, *, login_trait: str = DEFAULT_LOGIN_TRAIT) -> None:
        self._endpoint = endpoint
        self.login_trait = login_trait

    async def list(
        self, *, page_size: int, page_token: str | None = None, active: bool | None = None
    ) -> Page:
        """One page of every session, newest first, and the token of the next page (or None)."""
        params = MultiDict([("page_size", str(max(1, min(page_size, MAX_PAGE_SIZE)))), *_EXPAND])
        if page_token:
            params.add("page_token", page_token)
        if active is not None:
            params.add("active", "true" if active else "false")
        page = await self._endpoint.call(
            "GET", "/admin/sessions", self._parse_page, params=params, headers=LINK, keep=True
        )
        return page

    async def identity_sessions(
        self,
        identity_id: str,
        *,
        active: bool | None = None,
        page_size: int = MAX_IDENTITY_PAGE_SIZE,
    ) -> CountedPage:
        """One identity's newest sessions (at most 500), and how many it has in all.

        Only the first page: Kratos's `next` links for this listing repeat the first page and
        never reach the last (docs/upstreams.md), so walking them would be wrong.
        """
        if not is_uuid(identity_id):
            return [], 0
        size = max(1, min(page_size, MAX_IDENTITY_PAGE_SIZE))
        params = {"page_size": str(size)}
        if active is not None:
            params["active"] = "true" if active else "false"
        page = await self._endpoint.call(
            "GET",
            f"/admin/identities/{quote(identity_id, safe='')}/sessions",
            self._parse_counted,
            params=params,
            headers=TOTAL,
            keep=True,
        )
        return page

    # Bound methods, not lambdas: a kept parse is found by its parse function (and the answer).
    def _parse_page(self, reply: tuple[Any, Mapping[str, str]]) -> Page:
        return _parse_page(reply, self.login_trait)

    def _parse_counted(self, reply: tuple[Any, Mapping[str, str]]) -> CountedPage:
        return _parse_counted(reply, self.login_trait)

    async def get(self, session_id: str) -> SessionRecord | None:
        """One session by id, or None when Kratos does not know it."""
        if not is_uuid(session_id):
            return None
        now = datetime.now(UTC)
        return await self._endpoint.call(
            "GET",
            f"/admin/sessions/{quote(session_id, safe='')}",
            lambda p: parse_session(obj(p), now, login_trait=self.login_trait),
            params=MultiDict(_EXPAND),
            expected={404: None},
        )

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, SessionRecord]:
        """Several sessions by id: one fetch per id, concurrent but bounded."""
        wanted = [i for i in session_ids if is_uuid(i)]
        return await fetch_each(wanted, self.get, FETCH_CONCURRENCY)

    async def disable(self, session_id: str) -> RevokeOutcome:
        """Deactivate one session (Kratos keeps it, with `active: false`)."""
        if not is_uuid(session_id):
            return RevokeOutcome.NOT_FOUND
        return await self._endpoint.call(
            "DELETE",
            f"/admin/sessions/{quote(session_id, safe='')}",
            lambda _: RevokeOutcome.REVOKED,
            expected={404: RevokeOutcome.NOT_FOUND},
        )

    async def delete_identity_sessions(self, identity_id: str) -> RevokeOutcome:
        """Delete every session of one identity; NOT_FOUND when it had none (or is unknown).

        Kratos answers 204 without a count, so how many went is not known.
        """
        if not is_uuid(identity_id):
            return RevokeOutcome.NOT_FOUND
        return await self._endpoint.call(
            "DELETE",
            f"/admin/identities/{quote(identity_id, safe='')}/sessions",
            lambda _: RevokeOutcome.REVOKED,
            expected={404: RevokeOutcome.NOT_FOUND},
        )


class KeysetStream(LocalStream):
    """The whole listing: read whole for queries, but walked page by page, newest first,
    by Kratos's own keyset tokens for change detection (which never skip nor repeat)."""

    def __init__(
        self,
        client: KratosClient,
        load: Callable[[], Awaitable[Sequence[SessionRecord]]],
        predicate: Predicate | None,
        *,
        descending: bool,
    ) -> None:
        super().__init__("KRATOS", Provider.KRATOS, load, predicate, descending=descending)
        self.max_chunk = MAX_PAGE_SIZE
        self._client = client

    async def page(self, token: Token | None, count: int) -> StreamPage:
        keyset = token if isinstance(token, str) else None
        items, after = await self._client.list(page_size=count, page_token=keyset)
        return StreamPage(items, after if items else None, joined=keyset is not None)


class KratosSettings(ProviderSettings):
    """GATEWAY_KRATOS_URL (the admin API origin), _TOKEN (optional: an Ory Network API key;
    a self-hosted admin API usually has none) or _FORWARD_HEADER, _LOGIN_TRAIT, and
    _PUBLIC_URL with _SESSION_HEADER (which session the caller is: `Session.current`)."""

    token: SecretStr | None = None
    # The identity trait shown as the user's login name.
    login_trait: str = DEFAULT_LOGIN_TRAIT
    # The public API origin, where `whoami` tells which session a session token is; unset, the
    # gateway does not ask.
    public_url: str | None = None
    # The caller's request header holding its Kratos session token, sent to `whoami` as
    # Kratos's own X-Session-Token.
    session_header: str = WHOAMI_HEADER

    _check_public_url = field_validator("public_url", mode="before")(lambda value: origin(value))

    def caller_headers(self) -> tuple[str, ...]:
        own = super().caller_headers()
        return (*own, self.session_header) if self.public_url else own


class KratosProvider(SessionProvider):
    """Ory Kratos: one keyset-paged listing, newest first, read whole and merged here."""

    provider = Provider.KRATOS
    title = "Ory Kratos"
    description = "Sessions from Ory Kratos."
    settings_class = KratosSettings

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        super().__init__(endpoint, settings)
        assert isinstance(settings, KratosSettings)
        self.client = KratosClient(endpoint, login_trait=settings.login_trait)
        self._session_header = settings.session_header
        self._whoami = None
        if settings.public_url:
            forwarded = Forwarded(self.provider.value, settings.session_header, WHOAMI_HEADER)
            self._whoami = endpoint.sibling(settings.public_url, forwarded)

    @classmethod
    def static_credential(
        cls, settings: ProviderSettings, session: aiohttp.ClientSession, url: str
    ) -> Credential:
        assert isinstance(settings, KratosSettings)
        token = secret(settings.token).strip()
        return Credential({"Authorization": f"Bearer {token}"} if token else {})

    async def _everything(self, scope: RequestScope) -> list[SessionRecord]:
        """Every session, one call per page of 1000, once per request."""
        client = self.client

        async def load(keys: list[str]) -> list[list[SessionRecord]]:
            found: list[SessionRecord] = []
            token: str | None = None
            while True:
                page, token = await client.list(page_size=MAX_PAGE_SIZE, page_token=token)
                found += page
                if token is None or not page:
                    return [found for _ in keys]

        loaded: list[SessionRecord] = await scope.loader("kratos_listing", load).load("all")
        return loaded

    async def _of_users(self, users: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        """The users' sessions: one call each, or the whole listing if one has more than fit."""
        pages = await asyncio.gather(*(self.client.identity_sessions(u) for u in users))
        if any(len(found) < total for found, total in pages):
            wanted = set(users)
            everything = await self._everything(scope)
            return [r for r in everything if r.user and r.user.native_id in wanted]
        return [r for found, _ in pages for r in found]

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        # Kratos pages by opaque keyset tokens, newest first only, and filters by nothing the
        # gateway's filter has but one identity: its listing is read whole, ordered here.
        f = session_filter
        wanted = f.session_ids_of(Provider.KRATOS)
        users = f.users_of(Provider.KRATOS)
        if wanted is not None:

            async def load() -> Sequence[SessionRecord]:
                return await self.sessions(wanted, scope)

            residual = f.residual(frozenset({Part.SESSION_IDS}))
        elif users is not None:

            async def load() -> Sequence[SessionRecord]:
                return await self._of_users(users, scope)

            residual = f.residual(frozenset({Part.USERS}))
        else:

            async def load() -> Sequence[SessionRecord]:
                return await self._everything(scope)

            residual = f.residual(frozenset())
            return [KeysetStream(self.client, load, residual, descending=descending)]
        return [LocalStream("KRATOS", Provider.KRATOS, load, residual, descending=descending)]

    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        return list((await self.client.get_many(native_ids)).values())

    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        found, _ = await self.client.identity_sessions(native_id, page_size=1)
        return first_user(found, native_id)

    async def revoke(self, native_id: str) -> RevokeOutcome:
        return await self.client.disable(native_id)

    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        found, _ = await self.client.identity_sessions(user_id, active=True)
        still_open = [r for r in found if r.status is SessionStatus.ACTIVE]
        if still_open:
            await self.client.delete_identity_sessions(user_id)
        return still_open

    async def current_session(self) -> str | None:
        # `whoami` answers the session a token is, or 401 for none that is active.
        if self._whoami is None or not CALLER_HEADERS.get().get(self._session_header.lower()):
            return None
        found: str | None = await self._whoami.call(
            "GET", "/sessions/whoami", lambda p: req_str(obj(p), "id"), expected={401: None}
        )
        return found

    async def probe(self) -> None:
        await self.client.list(page_size=1)


def _sessions(payload: Any, login_trait: str) -> list[SessionRecord]:
    if not isinstance(payload, list):
        raise TypeError("expected an array of sessions")
    now = datetime.now(UTC)
    return [parse_session(obj(s), now, login_trait=login_trait) for s in payload]


def _parse_page(reply: tuple[Any, Mapping[str, str]], login_trait: str) -> Page:
    payload, headers = reply
    return _sessions(payload, login_trait), next_page_token(headers.get("Link"))


def _parse_counted(reply: tuple[Any, Mapping[str, str]], login_trait: str) -> CountedPage:
    payload, headers = reply
    records = _sessions(payload, login_trait)
    total = headers.get("X-Total-Count")
    return records, int(total) if total is not None else len(records)


def _factors(methods: tuple[KratosMethodRecord, ...]) -> FactorsRecord | None:
    if not methods:
        return None
    found: dict[str, FactorRecord] = {}
    for method in methods:
        name = _FACTORS.get(method.method)
        if name is None:
            continue
        known = found.get(name)
        # A method used again (a refresh, a step-up) counts from its latest completion.
        if known is None or (
            method.completed_at is not None
            and (known.verified_at is None or method.completed_at > known.verified_at)
        ):
            found[name] = FactorRecord(verified_at=method.completed_at)
    return FactorsRecord(**found)


def _method(value: Any) -> KratosMethodRecord:
    data = obj(value)
    return KratosMethodRecord(
        method=req_str(data, "method"),
        aal=opt_str(data, "aal"),
        completed_at=opt_time(data, "completed_at"),
        provider=opt_str(data, "provider"),
        organization=opt_str(data, "organization"),
    )


def _device(value: Any) -> KratosDeviceRecord:
    data = obj(value)
    return KratosDeviceRecord(
        native_id=req_str(data, "id"),
        ip_address=opt_str(data, "ip_address"),
        user_agent=opt_str(data, "user_agent"),
        location=opt_str(data, "location"),  # "" when not behind Cloudflare: absent
    )


def _display_name(traits: Mapping[str, Any]) -> str | None:
    """`traits.name` as a string, or `{first, last}` as in Kratos's example schemas."""
    name = traits.get("name")
    if isinstance(name, str):
        return name or None
    if isinstance(name, Mapping):
        parts = [name.get("first"), name.get("last")]
        joined = " ".join(p for p in parts if isinstance(p, str) and p)
        return joined or None
    return None


def _user(identity: Mapping[str, Any], login_trait: str) -> UserRecord:
    traits = obj(identity.get("traits") or {})
    # Traits follow the project's own schema: a login trait that is not a string is no name.
    login = traits.get(login_trait)
    return UserRecord(
        Provider.KRATOS,
        req_str(identity, "id"),
        login_name=login if isinstance(login, str) and login else None,
        display_name=_display_name(traits),
        organization_id=opt_str(identity, "organization_id"),
    )


def parse_session(
    session: Mapping[str, Any], now: datetime, *, login_trait: str = DEFAULT_LOGIN_TRAIT
) -> SessionRecord:
    """Normalise one Kratos `session` (every field optional but `id` and `issued_at`)."""
    provider = Provider.KRATOS  # read once: an Enum's class attributes are slow on 3.11
    native_id = req_str(session, "id")
    # issued_at is set once, when the session is first authenticated; authenticated_at moves
    # with every later factor. Kratos lists by its row creation time, which issued_at tracks.
    created = opt_time(session, "issued_at")
    if created is None:
        raise KeyError("issued_at")
    expires = opt_time(session, "expires_at")
    active = opt_bool(session, "active")
    # Kratos reports `active: false` for expired, disabled and logged-out sessions and for
    # those of an inactive identity; only expiry can be told apart.
    if expires is not None and expires <= now:
        status = SessionStatus.EXPIRED
    elif active is False:
        status = SessionStatus.REVOKED
    else:
        status = SessionStatus.ACTIVE
    methods = tuple([_method(m) for m in list_of(session, "authentication_methods")])
    devices = tuple([_device(d) for d in list_of(session, "devices")])
    first = devices[0] if devices else None
    raw_identity = session.get("identity")
    identity = obj(raw_identity) if raw_identity is not None else None
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=status,
        created_at=created,
        expires_at=expires,
        remote_address=first.ip_address if first else None,
        user=_user(identity, login_trait) if identity is not None else None,
        user_agent=UserAgentRecord(raw=first.user_agent, ip=first.ip_address) if first else None,
        factors=_factors(methods),
        extras=KratosExtras(
            active=active,
            aal=opt_str(session, "authenticator_assurance_level"),
            authenticated_at=opt_time(session, "authenticated_at"),
            methods=methods,
            devices=devices,
            identity_state=opt_str(identity, "state") if identity is not None else None,
            schema_id=opt_str(identity, "schema_id") if identity is not None else None,
        ),
    )
