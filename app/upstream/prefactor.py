"""Prefactor API v1: list a pool's sessions (oldest first), fetch one session by id."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app import ids
from app.upstream._http import Endpoint
from app.upstream._json import list_of, obj, opt_bool, opt_int, opt_str, req_str
from app.upstream.records import (
    InteractionRecord,
    PrefactorExtras,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
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
        page = await self._endpoint.call("GET", "/api/v1/session", _parse_list, params=params)
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
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(session_id: str) -> SessionRecord | None:
            async with limit:
                return await self.get(session_id)

        wanted = [i for i in dict.fromkeys(session_ids) if is_pfid(i)]
        found = await asyncio.gather(*(fetch(i) for i in wanted))
        return {r.native_id: r for r in found if r is not None}


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
            description=title,
        ),
        extras=PrefactorExtras(
            status=raw_status,
            session_type=opt_str(summary, "session_type"),
            title=title,
            account_id=opt_str(summary, "account_id"),
            domain_id=opt_str(summary, "domain_id"),
            pool_id=opt_str(summary, "pool_id"),
            device_id=opt_str(summary, "device_id"),
            first_seen=first_seen,
            last_seen=last_seen,
            can_revoke=can_revoke,
        ),
    )
