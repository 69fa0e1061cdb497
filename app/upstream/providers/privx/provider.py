"""SSH PrivX sessionstorage (auth service): search sessions, list a user's sessions."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from app.core import ids
from app.core.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from app.core.records import (
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.listing.filter import Part, SessionFilter
from app.listing.streams import OffsetStream, Stream
from app.upstream._json import list_of, obj, opt_bool, opt_int, opt_str, opt_time, req_str
from app.upstream.credentials import Credential
from app.upstream.endpoint import Endpoint, parse_shape
from app.upstream.provider import (
    CHILDREN,
    ENDED,
    PARENT,
    Ending,
    ProviderSettings,
    RequestScope,
    SessionProvider,
    first_user,
    is_set,
    secret,
)
from app.upstream.providers.privx.records import PrivxExtras

BASE = "/auth/api/v1/sessionstorage"
REVOKED = RevokeOutcome.REVOKED
# House assumption: the search endpoint has no maximum `limit`. A full listing (parents and
# children of a page, PrivX ids) takes one call up to this many sessions.
SCAN_LIMIT = 5000


class PrivxClient:
    """The parts of the PrivX sessionstorage API that the gateway uses."""

    provider = Provider.PRIVX

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def search(
        self,
        *,
        user_id: str | None,
        offset: int,
        limit: int,
        descending: bool,
        sortkey: str = "created",
    ) -> tuple[list[SessionRecord], int]:
        """One page of sessions by creation (or `updated`) time, and how many match."""
        params = _search_params(offset, limit, descending, sortkey)
        body = {"user_id": user_id} if user_id else {}
        page = await self._endpoint.call(
            "POST",
            f"{BASE}/sessions/search",
            _parse_envelope,
            params=params,
            body=body,
            read=True,
            keep=True,
        )
        return page

    async def terminate(self, session_id: str) -> RevokeOutcome:
        """End one session (and, upstream, its child sessions)."""
        path = f"{BASE}/sessions/{quote(session_id, safe='')}/terminate"
        # No documented body; any 2xx is success. Unknown ids answer 404 (house reading).
        return await self._endpoint.call(
            "POST", path, lambda _: RevokeOutcome.REVOKED, expected={404: RevokeOutcome.NOT_FOUND}
        )

    async def terminate_user(self, user_id: str) -> None:
        """End every session of one user."""
        path = f"{BASE}/users/{quote(user_id, safe='')}/sessions/terminate"
        await self._endpoint.call("POST", path, lambda _: None)

    async def listing(self, user_id: str | None = None) -> Listing:
        """Every session (of one user, or all the token may see), in as few calls as it takes,
        kept raw: what PrivX cannot look up (by id, by parent) is picked from it and parsed."""
        body = {"user_id": user_id} if user_id else {}

        async def part(offset: int) -> tuple[list[Mapping[str, Any]], int]:
            params = _search_params(offset, SCAN_LIMIT, descending=False)
            return await self._endpoint.call(
                "POST",
                f"{BASE}/sessions/search",
                _raw_envelope,
                params=params,
                body=body,
                read=True,
            )

        first, total = await part(0)
        if len(first) < SCAN_LIMIT:
            total = len(first)  # a short first part is all there is, whatever `count` says
        rest = await asyncio.gather(
            *(part(offset) for offset in range(SCAN_LIMIT, total, SCAN_LIMIT))
        )
        return Listing(first + [item for items, _ in rest for item in items])


@dataclass(frozen=True, slots=True)
class Listing:
    """Raw `sessionResponse` items of a full listing."""

    items: list[Mapping[str, Any]]

    def trees(self, native_ids: set[str]) -> list[SessionRecord]:
        """Every family (a root session and its descendants) holding one of `native_ids`, parsed.

        Whatever `parent` or `children` asks next about these sessions is in their families.
        """
        by_id = {_id(item): item for item in self.items}
        kids: dict[str, list[Mapping[str, Any]]] = {}
        for item in self.items:
            if parent := item.get("parent_session_id"):
                kids.setdefault(parent, []).append(item)
        roots: set[Any] = set()
        for native_id in native_ids:
            node = by_id.get(native_id)
            if node is None:  # not listed, but its children may be
                roots.update(_id(kid) for kid in kids.get(native_id, []))
                continue
            climbed: set[Any] = {native_id}
            while (parent := node.get("parent_session_id")) in by_id and parent not in climbed:
                climbed.add(parent)
                node = by_id[parent]
            roots.add(_id(node))
        family, pending, done = [], list(roots), set()
        while pending:
            native_id = pending.pop()
            if native_id not in done:
                done.add(native_id)
                family.append(by_id[native_id])
                pending.extend(_id(kid) for kid in kids.get(native_id, []))
        return Listing(family).sessions()

    def children(self) -> dict[str, list[str]]:
        """Each listed session's children (native ids) by its native id, read raw."""
        found: dict[str, list[str]] = defaultdict(list)
        for item in self.items:
            parent, native_id = item.get("parent_session_id"), _id(item)
            if isinstance(parent, str) and parent and isinstance(native_id, str):
                found[parent].append(native_id)
        return found

    def sessions(self, native_ids: Collection[str] | None = None) -> list[SessionRecord]:
        """The sessions with `native_ids` (every one without), parsed; a bad one is PrivX's bad
        response."""
        now = datetime.now(UTC)
        items = self.items
        if native_ids is not None:
            items = [item for item in items if _id(item) in native_ids]
        return parse_shape(
            Provider.PRIVX.value, lambda raw: [parse_session(item, now) for item in raw], items
        )


class PrivxSettings(ProviderSettings):
    """GATEWAY_PRIVX_URL, and _TOKEN, the four OAuth client values, or _FORWARD_HEADER."""

    token: SecretStr | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    api_client_id: str | None = None
    api_client_secret: SecretStr | None = None

    @property
    def oauth(self) -> bool:
        """Whether tokens come from PrivX's OAuth endpoint (all four values set)."""
        return bool(
            self.oauth_client_id
            and is_set(self.oauth_client_secret)
            and self.api_client_id
            and is_set(self.api_client_secret)
        )

    own_credential = "{P}TOKEN, the four {P}*_CLIENT_* values"

    def has_own_credential(self) -> bool:
        return is_set(self.token) or self.oauth


# A PrivX session's relatives, of one user: (PARENT, user, parent's id) answers the parent,
# (CHILDREN, user, session id) the session's children.
FamilyKey = tuple[str, str, str]


class PrivxProvider(SessionProvider):
    """PrivX: offset paging either way; no lookup by id or parent, so those pick from a listing."""

    provider = Provider.PRIVX
    title = "SSH PrivX"
    description = "Sessions from SSH PrivX."
    ended_status = SessionStatus.LOGGED_OUT  # PrivX marks terminated sessions logged out
    settings_class = PrivxSettings

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        super().__init__(endpoint, settings)
        self.client = PrivxClient(endpoint)

    @classmethod
    def static_credential(
        cls, settings: ProviderSettings, session: aiohttp.ClientSession, url: str
    ) -> Credential:
        assert isinstance(settings, PrivxSettings)
        if not settings.oauth:
            return super().static_credential(settings, session, url)
        return PrivxOAuth(
            session,
            url,
            oauth_client_id=settings.oauth_client_id or "",
            oauth_client_secret=secret(settings.oauth_client_secret),
            api_client_id=settings.api_client_id or "",
            api_client_secret=secret(settings.api_client_secret),
        )

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        f = session_filter
        client = self.client
        # The search body narrows to one user_id; everything else is checked here.
        residual = f.residual(frozenset({Part.USERS}) if f.users is not None else frozenset())

        def stream(user_id: str | None) -> Stream:
            async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
                return await client.search(
                    user_id=user_id, offset=offset, limit=limit, descending=desc
                )

            async def updated(
                offset: int, limit: int, desc: bool
            ) -> tuple[list[SessionRecord], int]:
                return await client.search(
                    user_id=user_id, offset=offset, limit=limit, descending=desc, sortkey="updated"
                )

            key = f"PRIVX:{user_id}" if user_id else "PRIVX"
            made = OffsetStream(key, Provider.PRIVX, page, descending=descending, residual=residual)
            # PrivX also orders by update time: live watches read its newest end each poll.
            made.recent = OffsetStream(
                f"{key}:updated", Provider.PRIVX, updated, descending=True, residual=residual
            )
            return made

        users = f.users_of(Provider.PRIVX)
        return [stream(None)] if users is None else [stream(u) for u in users]

    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        # PrivX has no by-id endpoint: list what the token may see and pick.
        return (await self.client.listing()).sessions(set(native_ids))

    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        records, _ = await self.client.search(user_id=native_id, offset=0, limit=1, descending=True)
        return first_user(records, native_id)

    async def revoke(self, native_id: str) -> RevokeOutcome:
        return await self.client.terminate(native_id)

    async def ended_along(self, native_id: str) -> list[str] | None:
        # Terminating a session logs out its child sessions too: read its family afterwards
        # (PrivX looks nothing up by parent) and name every descendant.
        try:
            family = (await self.client.listing()).trees({native_id})
        except UpstreamError:
            return None
        children: dict[str, list[str]] = defaultdict(list)
        for record in family:
            if record.parent_native_id is not None:
                children[record.parent_native_id].append(record.native_id)
        return descendants(children, native_id)

    async def revoke_many(self, records: Sequence[SessionRecord], concurrency: int) -> list[Ending]:
        # Terminating a session ends its children: a child whose parent this batch terminates
        # needs no call of its own. The children each terminate ends are named from one listing
        # (of the one user where the batch is one user's, as relatives are), read beside the
        # terminates instead of once after each.
        if not records:
            return []
        limit = asyncio.Semaphore(concurrency)
        batch = {r.native_id for r in records}
        parents = {r.native_id for r in records if r.parent_native_id not in batch}
        direct = [r for r in records if r.parent_native_id not in parents]
        users = {r.user.native_id if r.user else None for r in records}

        async def families() -> dict[str, list[str]] | None:
            async with limit:
                try:
                    listing = await self.client.listing(users.pop() if len(users) == 1 else None)
                except UpstreamError:
                    return None
            return listing.children()

        async def terminate(record: SessionRecord) -> RevokeOutcome | UpstreamError:
            async with limit:
                try:
                    return await self.client.terminate(record.native_id)
                except UpstreamError as exc:
                    return exc

        async def each(ending: list[SessionRecord]) -> dict[str, RevokeOutcome | UpstreamError]:
            outcomes = await asyncio.gather(*(terminate(r) for r in ending))
            return {r.native_id: o for r, o in zip(ending, outcomes, strict=True)}

        children, done = await asyncio.gather(families(), each(direct))
        # A child whose parent did not end is terminated on its own.
        done |= await each(
            [
                r
                for r in records
                if r.parent_native_id in parents and done[r.parent_native_id] is not REVOKED
            ]
        )
        # What this batch knows of the families, should the listing have missed some.
        known: dict[str, list[str]] = defaultdict(list, children or {})
        for record in records:
            if record.native_id not in done and record.parent_native_id is not None:
                known[record.parent_native_id].append(record.native_id)
        endings: list[Ending] = []
        for record in records:
            outcome = done.get(record.native_id, REVOKED)  # else ended with its parent
            if outcome is not REVOKED:
                endings.append(Ending(record, outcome))
                continue
            along = tuple(descendants(known, record.native_id))
            endings.append(Ending(record, outcome, along, unnamed=children is None))
        return endings

    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        records = (await self.client.listing(user_id)).sessions()
        still_open = [r for r in records if r.status not in ENDED]
        if still_open:
            await self.client.terminate_user(user_id)
        return still_open

    async def probe(self) -> None:
        await self.client.search(user_id=None, offset=0, limit=1, descending=True)

    def known_relatives(self, record: SessionRecord, relation: str) -> list[SessionRecord] | None:
        if record.user is None or (relation == PARENT and record.parent_native_id is None):
            return []
        return None

    async def relatives(
        self, record: SessionRecord, relation: str, scope: RequestScope
    ) -> list[SessionRecord]:
        if record.user is None:
            return []
        if relation == PARENT:
            if record.parent_native_id is None:
                return []
            key = (PARENT, record.user.native_id, record.parent_native_id)
        else:
            key = (CHILDREN, record.user.native_id, record.native_id)
        found: list[SessionRecord] = await self._families(scope).load(key)
        return found

    def _families(self, scope: RequestScope) -> Any:
        """The request's loader of relatives by family key."""
        # Sessions parsed for `parent` and `children` in this request, by family key, and the
        # ids whose whole family is among them (or that PrivX does not know).
        family: dict[FamilyKey, list[SessionRecord]] = defaultdict(list)
        known: set[str] = set()
        client = self.client

        async def load(keys: list[FamilyKey]) -> list[list[SessionRecord]]:
            # One listing (of the user's sessions when every key is one user's) answers a
            # page's relatives. Only their families are parsed and kept, and relatives of
            # relatives, asked next, are among them.
            missing = {native_id for _, _, native_id in keys if native_id not in known}
            if missing:
                users = {user for _, user, native_id in keys if native_id in missing}
                listing = await client.listing(users.pop() if len(users) == 1 else None)
                for found in listing.trees(missing):
                    known.add(found.native_id)
                    if found.user is not None:
                        user = found.user.native_id
                        family[(PARENT, user, found.native_id)].append(found)
                        if found.parent_native_id is not None:
                            family[(CHILDREN, user, found.parent_native_id)].append(found)
                known.update(missing)
            return [family.get(key, []) for key in keys]

        return scope.loader("privx_family", load)


def descendants(children: Mapping[str, list[str]], native_id: str) -> list[str]:
    """Every descendant of `native_id` in a family given as children by parent."""
    found: dict[str, None] = {}
    pending = list(children.get(native_id, []))
    while pending:
        child = pending.pop()
        if child != native_id and child not in found:
            found[child] = None
            pending.extend(children.get(child, []))
    return list(found)


def _id(item: Mapping[str, Any]) -> Any:
    return item.get("id") or item.get("session_id")  # v33 names it `session_id`


def _search_params(
    offset: int, limit: int, descending: bool, sortkey: str = "created"
) -> dict[str, str]:
    return {
        "offset": str(offset),
        "limit": str(limit),
        "sortkey": sortkey,
        "sortdir": "DESC" if descending else "ASC",
    }


def _raw_envelope(payload: Any) -> tuple[list[Mapping[str, Any]], int]:
    data = obj(payload)
    items = [obj(item) for item in list_of(data, "items", required=True)]
    count = opt_int(data, "count")
    return items, count if count is not None else len(items)


def _parse_envelope(payload: Any) -> tuple[list[SessionRecord], int]:
    items, total = _raw_envelope(payload)
    now = datetime.now(UTC)
    return [parse_session(item, now) for item in items], total


def parse_session(item: Mapping[str, Any], now: datetime) -> SessionRecord:
    """Normalise one `sessionResponse`; v33's `session_id` is accepted for `id`."""
    provider = Provider.PRIVX  # read once: an Enum's class attributes are slow on 3.11
    native_id = opt_str(item, "id") or req_str(item, "session_id")
    logged_out = bool(opt_bool(item, "logged_out"))
    expires = opt_time(item, "expires")
    if logged_out:
        status = SessionStatus.LOGGED_OUT
    elif expires is not None and expires <= now:
        status = SessionStatus.EXPIRED
    else:
        status = SessionStatus.ACTIVE
    created = opt_time(item, "created")
    if created is None:
        raise KeyError("created")
    user_id = opt_str(item, "user_id")
    username = opt_str(item, "username")
    remote = opt_str(item, "remote_addr")
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=status,
        created_at=created,
        updated_at=opt_time(item, "updated"),
        expires_at=expires,
        token_expires_at=opt_time(item, "token_expires"),
        remote_address=remote,
        user=UserRecord(provider, user_id, login_name=username) if user_id else None,
        user_agent=UserAgentRecord(raw=opt_str(item, "user_agent"), ip=remote),
        # Some doc versions send "" instead of omitting the parent of a root session.
        parent_native_id=opt_str(item, "parent_session_id"),
        extras=PrivxExtras(
            session_type=opt_str(item, "type") or "login",
            source_id=opt_str(item, "source_id"),
            domain=opt_str(item, "domain"),
            username=username,
            current=opt_bool(item, "current"),
            logged_out=logged_out,
        ),
    )


class PrivxOAuth(Credential):
    """PrivX's OAuth2 password grant for API clients, cached and refreshed before expiry.

    Under concurrency one refresh runs at a time; the others wait for its token.
    """

    refreshable = True
    PATH = "/auth/api/v1/oauth/token"
    # Refresh this long before expiry (or at 80% of the lifetime, for short-lived tokens).
    MARGIN_SECONDS = 30.0

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        oauth_client_id: str,
        oauth_client_secret: str,
        api_client_id: str,
        api_client_secret: str,
    ) -> None:
        super().__init__()
        self._session = session
        self._url = base_url.rstrip("/") + self.PATH
        basic = base64.b64encode(f"{oauth_client_id}:{oauth_client_secret}".encode()).decode()
        self._basic = f"Basic {basic}"
        self._form = {
            "grant_type": "password",
            "username": api_client_id,
            "password": api_client_secret,
        }
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._current()}"}

    def invalidate(self, used: Mapping[str, str]) -> None:
        # Only if still current: another request may already have fetched a fresh one.
        if self._token is not None and used.get("Authorization") == f"Bearer {self._token}":
            self._token = None

    async def _current(self) -> str:
        if self._token is not None and time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        try:
            async with self._session.post(
                self._url, data=self._form, headers={"Authorization": self._basic}
            ) as response:
                status = response.status
                payload = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamUnavailable(
                "PRIVX token endpoint is unavailable.", provider="PRIVX"
            ) from exc
        if status in (400, 401, 403):
            raise UpstreamUnauthorized(
                f"PRIVX refused the gateway's OAuth client credentials (HTTP {status}).",
                provider="PRIVX",
            )
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise UpstreamUnavailable(
                f"PRIVX token endpoint answered HTTP {status} without a token.", provider="PRIVX"
            )
        try:
            lifetime = float(payload.get("expires_in") or 300)
        except (TypeError, ValueError):
            raise UpstreamBadResponse(
                "PRIVX token endpoint answered an invalid expires_in.", provider="PRIVX"
            ) from None
        self._token = payload["access_token"]
        self._renew_at = time.monotonic() + lifetime - min(self.MARGIN_SECONDS, lifetime * 0.2)
