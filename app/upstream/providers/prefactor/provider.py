"""Prefactor API v1: list a pool's sessions (oldest first), fetch one session by id."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from app.core import ids
from app.core.records import (
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.listing.filter import Part, SessionFilter
from app.listing.streams import AscendingStream, LocalStream, Stream
from app.upstream._json import list_of, obj, opt_bool, opt_int, opt_str, req_str
from app.upstream.endpoint import Endpoint
from app.upstream.provider import (
    ProviderSettings,
    RequestScope,
    SessionProvider,
    fetch_each,
    first_user,
    is_set,
    revoke_each,
)
from app.upstream.providers.prefactor.records import InteractionRecord, PrefactorExtras
from app.upstream.timestamps import from_unix_seconds

# House assumption (the list endpoint is undocumented): page_size defaults to 25, maximum 100.
MAX_PAGE_SIZE = 100
# Concurrent single-session fetches per batch; Prefactor has no multi-id lookup.
FETCH_CONCURRENCY = 8

_STATUS = {
    "new": SessionStatus.PENDING,
    "unauthenticated": SessionStatus.PENDING,
    "authenticated": SessionStatus.ACTIVE,
    "complete": SessionStatus.LOGGED_OUT,
    "revoked": SessionStatus.REVOKED,
}
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Crockford's digits to the same values in int()'s base-32 digits (base32hex).
_TO_BASE32 = bytes.maketrans(_CROCKFORD.encode(), b"0123456789abcdefghijklmnopqrstuv")


class PrefactorClient:
    """The parts of the Prefactor API that the gateway uses."""

    provider = Provider.PREFACTOR

    def __init__(self, endpoint: Endpoint, pool_ids: Sequence[str]) -> None:
        self._endpoint = endpoint
        self.pool_ids = tuple(pool_ids)

    async def list(
        self, *, pool_id: str, identity_id: str | None, offset: int, page_size: int
    ) -> tuple[list[SessionRecord], int]:
        """One page of a pool's sessions, oldest first, and the pool's total."""
        params = {
            "pool_id": pool_id,
            "pagination[offset]": str(offset),
            "pagination[page_size]": str(min(page_size, MAX_PAGE_SIZE)),
        }
        if identity_id:
            params["authenticated_identity_id"] = identity_id
        page = await self._endpoint.call(
            "GET", "/api/v1/session", _parse_list, params=params, keep=True
        )
        return page

    async def get(self, session_id: str) -> SessionRecord | None:
        """One session by id, or None when Prefactor does not know it."""
        if not is_pfid(session_id):
            return None
        return await self._endpoint.call(
            "GET",
            f"/api/v1/session/{quote(session_id, safe='')}",
            _parse_single,
            expected={404: None},
        )

    async def revoke(self, session_id: str) -> RevokeOutcome:
        """Revoke one session; a finished one answers 400 `invalid_action` (house reading)."""
        if not is_pfid(session_id):
            return RevokeOutcome.NOT_FOUND
        return await self._endpoint.call(
            "POST",
            f"/api/v1/session/{quote(session_id, safe='')}/revoke",
            lambda _: RevokeOutcome.REVOKED,
            expected={404: RevokeOutcome.NOT_FOUND, 400: RevokeOutcome.REFUSED},
        )

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, SessionRecord]:
        """Several sessions by id: one fetch per id, concurrent but bounded."""
        wanted = [i for i in session_ids if is_pfid(i)]
        return await fetch_each(wanted, self.get, FETCH_CONCURRENCY)


_POOL_ID = re.compile(r"^[0-9a-z]{1,64}$")


class PrefactorSettings(ProviderSettings):
    """GATEWAY_PREFACTOR_URL, _TOKEN or _FORWARD_HEADER, and _POOL_IDS (comma-separated)."""

    token: SecretStr | None = None
    pool_ids: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("pool_ids", mode="before")
    @classmethod
    def _split_pool_ids(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a comma-separated list of pool ids")
        for pool_id in value:
            if not isinstance(pool_id, str) or not _POOL_ID.match(pool_id):
                raise ValueError(f"'{pool_id}' is not a Prefactor pool id")
        return tuple(value)

    @model_validator(mode="after")
    def _pools_with_url(self) -> PrefactorSettings:
        if self.url and not self.pool_ids:
            raise ValueError(
                "GATEWAY_PREFACTOR_POOL_IDS is required when GATEWAY_PREFACTOR_URL is set "
                "(Prefactor lists sessions per pool)"
            )
        return self

    def has_own_credential(self) -> bool:
        return is_set(self.token)


class PrefactorProvider(SessionProvider):
    """Prefactor: lists a pool oldest first (newest first is derived), one session by id."""

    provider = Provider.PREFACTOR
    title = "Prefactor"
    description = "Sessions from Prefactor, in the configured pools."
    settings_class = PrefactorSettings

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        super().__init__(endpoint, settings)
        assert isinstance(settings, PrefactorSettings)
        self.client = PrefactorClient(endpoint, settings.pool_ids)

    @property
    def listings(self) -> int:
        return len(self.client.pool_ids)

    def _ours(self, record: SessionRecord | None) -> bool:
        """Whether a fetched session is in one of the configured pools (the token may see more)."""
        return (
            record is not None and getattr(record.extras, "pool_id", None) in self.client.pool_ids
        )

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        f = session_filter
        client = self.client
        wanted = f.session_ids_of(Provider.PREFACTOR)
        if wanted is not None:

            async def load() -> Sequence[SessionRecord]:
                return await self.sessions(wanted, scope)

            predicate = f.residual(frozenset({Part.SESSION_IDS}))
            return [
                LocalStream(
                    "PREFACTOR:ids", Provider.PREFACTOR, load, predicate, descending=descending
                )
            ]
        users = f.users_of(Provider.PREFACTOR)
        residual = f.residual(frozenset({Part.USERS}) if users is not None else frozenset())

        def stream(pool_id: str, identity: str | None) -> Stream:
            async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
                return await client.list(
                    pool_id=pool_id, identity_id=identity, offset=offset, page_size=limit
                )

            return AscendingStream(
                f"PREFACTOR:{pool_id}:{identity or ''}",
                Provider.PREFACTOR,
                page,
                descending=descending,
                residual=residual,
                max_chunk=MAX_PAGE_SIZE,
            )

        # An identity id that is not a PFID matches nothing (and Prefactor would answer 400).
        identities: list[str | None] = (
            [u for u in users if is_pfid(u)] if users is not None else [None]
        )
        return [stream(pool, identity) for pool in client.pool_ids for identity in identities]

    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        found = await self.client.get_many(native_ids)
        return [r for r in found.values() if self._ours(r)]

    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        for pool_id in self.client.pool_ids:
            records, _ = await self.client.list(
                pool_id=pool_id, identity_id=native_id, offset=0, page_size=1
            )
            if records:
                return first_user(records, native_id)
        return None

    async def revoke(self, native_id: str) -> RevokeOutcome:
        if not self._ours(await self.client.get(native_id)):
            return RevokeOutcome.NOT_FOUND
        return await self.client.revoke(native_id)

    async def revoke_record(self, record: SessionRecord) -> RevokeOutcome:
        # A session read from Prefactor carries its pool: no read before the revoke.
        if not self._ours(record):
            return RevokeOutcome.NOT_FOUND
        return await self.client.revoke(record.native_id)

    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        records: list[SessionRecord] = []
        for pool_id in self.client.pool_ids:
            offset, total = 0, 1
            while offset < total:
                page, total = await self.client.list(
                    pool_id=pool_id, identity_id=user_id, offset=offset, page_size=MAX_PAGE_SIZE
                )
                if not page:
                    break
                records += page
                offset += len(page)
        return await revoke_each(records, self.client.revoke)

    async def probe(self) -> None:
        pool = self.client.pool_ids[0]
        await self.client.list(pool_id=pool, identity_id=None, offset=0, page_size=1)


def _parse_list(payload: Any) -> tuple[list[SessionRecord], int]:
    data = obj(payload)
    now = datetime.now(UTC)
    items = [parse_session(obj(s), now) for s in list_of(data, "summaries", required=True)]
    pagination = data.get("pagination")
    total = opt_int(obj(pagination), "item_count") if pagination is not None else None
    return items, total if total is not None else len(items)


def _parse_single(payload: Any) -> SessionRecord:
    data = obj(payload)
    actions = data.get("actions")
    can_revoke = opt_bool(obj(actions), "revoke") if actions is not None else None
    return parse_session(obj(data["summary"]), datetime.now(UTC), can_revoke=can_revoke)


def is_pfid(value: str) -> bool:
    """Whether `value` is shaped like a PFID; Prefactor rejects other ids with a 400."""
    return len(value) == 32 and all(char in _CROCKFORD for char in value)


def pfid_time(pfid: str) -> datetime | None:
    """The creation time a PFID encodes, or None if it is not a PFID."""
    if len(pfid) != 32:
        return None
    digits = pfid.lower().encode("utf-8", "surrogatepass")
    if digits.translate(None, _CROCKFORD.encode()):  # something other than Crockford digits
        return None
    value = int(digits.translate(_TO_BASE32), 32)
    # 160 bits: 2 zero padding bits, 48-bit ms timestamp, 30-bit partition, 80 random bits.
    return datetime.fromtimestamp(((value >> 110) & (2**48 - 1)) / 1000, UTC)


def _interaction(value: Any) -> InteractionRecord | None:
    if value is None:
        return None
    data = obj(value)
    at = data.get("at")
    return InteractionRecord(
        at=from_unix_seconds(at) if at is not None else None,
        remote_ip=opt_str(data, "remote_ip"),
        user_agent=opt_str(data, "user_agent"),
        asn=opt_int(data, "asn"),
        city=opt_str(data, "city"),
        country_code=opt_str(data, "country_code"),
        region_code=opt_str(data, "region_code"),
        timezone=opt_str(data, "timezone"),
        ja4_fingerprint=opt_str(data, "ja4_fingerprint"),
    )


def parse_session(
    summary: Mapping[str, Any], now: datetime, *, can_revoke: bool | None = None
) -> SessionRecord:
    """Normalise one `Session_Summary`."""
    provider = Provider.PREFACTOR  # read once: an Enum's class attributes are slow on 3.11
    native_id = req_str(summary, "id")
    raw_status = req_str(summary, "status")
    first_seen = _interaction(summary.get("first_seen"))
    last_seen = _interaction(summary.get("last_seen"))
    # The PFID's millisecond time orders the list (oldest first), so it is the creation time
    # that keeps our merge in the upstream's order; first_seen.at (whole seconds, nullable)
    # is the fallback for ids that are not PFIDs.
    created = pfid_time(native_id) or (first_seen.at if first_seen else None)
    if created is None:
        raise KeyError("first_seen")
    latest = last_seen or first_seen
    identity = opt_str(summary, "authenticated_identity_id")
    global_id = ids.encode(ids.SESSION, provider, native_id)
    title = opt_str(summary, "title")
    device_id = opt_str(summary, "device_id")
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=global_id,
        status=_STATUS.get(raw_status, SessionStatus.PENDING),
        created_at=created,
        updated_at=latest.at if latest else None,
        last_seen_at=latest.at if latest else None,
        remote_address=latest.remote_ip if latest else None,
        user=UserRecord(provider, identity) if identity else None,
        user_agent=UserAgentRecord(
            raw=latest.user_agent if latest else None,
            ip=latest.remote_ip if latest else None,
            device_id=device_id,
            description=title,
        ),
        extras=PrefactorExtras(
            status=raw_status,
            session_type=opt_str(summary, "session_type"),
            title=title,
            account_id=opt_str(summary, "account_id"),
            domain_id=opt_str(summary, "domain_id"),
            pool_id=opt_str(summary, "pool_id"),
            device_id=device_id,
            first_seen=first_seen,
            last_seen=last_seen,
            can_revoke=can_revoke,
        ),
    )
