"""ZITADEL session service v2 over its REST (grpc-gateway) transcoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from app.core import ids
from app.core.records import (
    FactorRecord,
    FactorsRecord,
    MetadataEntry,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.listing.filter import Part, SessionFilter
from app.listing.streams import OffsetStream, Stream
from app.upstream._json import obj, opt_bool, opt_int, opt_str, opt_time, req_str
from app.upstream.endpoint import Endpoint
from app.upstream.provider import (
    ProviderSettings,
    RequestScope,
    SessionProvider,
    first_user,
    is_set,
    revoke_each,
)
from app.upstream.providers.zitadel.records import HeaderRecord, ZitadelExtras

# ZITADEL (v4.20+) rejects a `limit` above 1000.
MAX_LIMIT = 1000

_FACTORS = {
    "user": "user",
    "password": "password",
    "webAuthN": "web_auth_n",
    "intent": "intent",
    "totp": "totp",
    "otpSms": "otp_sms",
    "otpEmail": "otp_email",
    "recoveryCode": "recovery_code",
}


def timestamp_query(key: str, field: str, when: datetime, method: str) -> dict[str, Any]:
    """A `creationDateQuery`/`expirationDateQuery` element; method is GREATER_OR_EQUALS etc."""
    stamp = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {key: {field: stamp, "method": f"TIMESTAMP_QUERY_METHOD_{method}"}}


class ZitadelClient:
    """The parts of ZITADEL's SessionService that the gateway uses."""

    provider = Provider.ZITADEL

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def search(
        self, queries: Sequence[Mapping[str, Any]], *, offset: int, limit: int, asc: bool
    ) -> tuple[list[SessionRecord], int]:
        """One page of sessions ordered by creation date, and the total that match."""
        body = {
            # uint64 travels as a JSON string in proto3 JSON.
            "query": {"offset": str(offset), "limit": min(limit, MAX_LIMIT), "asc": asc},
            "queries": list(queries),
            "sortingColumn": "SESSION_FIELD_NAME_CREATION_DATE",
        }
        page = await self._endpoint.call(
            "POST", "/v2/sessions/search", _parse_search, body=body, read=True, keep=True
        )
        return page

    async def delete(self, session_id: str) -> RevokeOutcome:
        """Terminate (delete) one session."""
        return await self._endpoint.call(
            "DELETE",
            f"/v2/sessions/{quote(session_id, safe='')}",
            lambda _: RevokeOutcome.REVOKED,
            expected={404: RevokeOutcome.NOT_FOUND},
        )

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, SessionRecord]:
        """Sessions by id in one `idsQuery` call per thousand ids."""
        wanted = list(dict.fromkeys(session_ids))
        found: dict[str, SessionRecord] = {}
        for start in range(0, len(wanted), MAX_LIMIT):
            chunk = wanted[start : start + MAX_LIMIT]
            records, _ = await self.search(
                [{"idsQuery": {"ids": chunk}}], offset=0, limit=len(chunk), asc=True
            )
            found.update((r.native_id, r) for r in records)
        return found


class ZitadelSettings(ProviderSettings):
    """GATEWAY_ZITADEL_URL, _TOKEN (a service user's bearer token) or _FORWARD_HEADER."""

    token: SecretStr | None = None

    def has_own_credential(self) -> bool:
        return is_set(self.token)


class ZitadelProvider(SessionProvider):
    """ZITADEL: filters and pages upstream (offset/limit, either order), looks up by ids."""

    provider = Provider.ZITADEL
    title = "ZITADEL"
    description = "Sessions from ZITADEL."
    deletes_revoked = True  # ZITADEL ends a session by deleting it
    settings_class = ZitadelSettings

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        super().__init__(endpoint, settings)
        self.client = ZitadelClient(endpoint)

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        f = session_filter
        queries: list[dict[str, Any]] = []
        # Expiration is only narrowed upstream: ZITADEL's GREATER comparisons also match
        # sessions that never expire, which our `expiresAt` range excludes, so the range is
        # checked here.
        pushed = {Part.CREATED}
        ids_wanted = f.session_ids_of(Provider.ZITADEL)
        if ids_wanted is not None:
            queries.append({"idsQuery": {"ids": ids_wanted}})
            pushed.add(Part.SESSION_IDS)
        ranges = (
            (f.created, "creationDateQuery", "creationDate"),
            (f.expires, "expirationDateQuery", "expirationDate"),
        )
        for span, key, field in ranges:
            if span is None:
                continue
            bounds: tuple[tuple[datetime | None, str], ...] = (
                (span.since if key == "creationDateQuery" else None, "GREATER_OR_EQUALS"),
                (span.until, "LESS"),
            )
            queries += [timestamp_query(key, field, when, how) for when, how in bounds if when]
        users = f.users_of(Provider.ZITADEL)
        if users is not None:
            pushed.add(Part.USERS)
        residual = f.residual(frozenset(pushed))
        client = self.client

        async def page(
            extra: list[dict[str, Any]], offset: int, limit: int, desc: bool
        ) -> tuple[list[SessionRecord], int]:
            return await client.search([*queries, *extra], offset=offset, limit=limit, asc=not desc)

        def stream(user_id: str | None) -> Stream:
            extra = [{"userIdQuery": {"id": user_id}}] if user_id else []
            return OffsetStream(
                f"ZITADEL:{user_id}" if user_id else "ZITADEL",
                Provider.ZITADEL,
                partial(page, extra),
                descending=descending,
                residual=residual,
                max_chunk=MAX_LIMIT,
            )

        return [stream(None)] if users is None else [stream(u) for u in users]

    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        return list((await self.client.get_many(native_ids)).values())

    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        records, _ = await self.client.search(
            [{"userIdQuery": {"id": native_id}}], offset=0, limit=1, asc=False
        )
        return first_user(records, native_id)

    async def revoke(self, native_id: str) -> RevokeOutcome:
        return await self.client.delete(native_id)

    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        query = [{"userIdQuery": {"id": user_id}}]
        records, total = await self.client.search(query, offset=0, limit=MAX_LIMIT, asc=True)
        while len(records) < total:
            more, _ = await self.client.search(
                query, offset=len(records), limit=MAX_LIMIT, asc=True
            )
            if not more:
                break
            records += more
        return await revoke_each(records, self.client.delete)

    async def probe(self) -> None:
        await self.client.search([], offset=0, limit=1, asc=False)


def _parse_search(payload: Any) -> tuple[list[SessionRecord], int]:
    data = obj(payload)
    now = datetime.now(UTC)
    sessions = data.get("sessions") or []
    if not isinstance(sessions, list):
        raise TypeError("sessions is not an array")
    records = [parse_session(obj(s), now) for s in sessions]
    # ZITADEL omits empty values (no `sessions`, no `totalResult` when 0), never `details`.
    total = opt_int(obj(data["details"]), "totalResult")
    return records, total if total is not None else len(records)


def _factors(value: Any) -> FactorsRecord | None:
    if value is None:
        return None
    data = obj(value)
    found: dict[str, FactorRecord] = {}
    for key, name in _FACTORS.items():
        factor = data.get(key)
        if factor is not None:
            factor = obj(factor)
            found[name] = FactorRecord(
                verified_at=opt_time(factor, "verifiedAt"),
                user_verified=opt_bool(factor, "userVerified"),
            )
    return FactorsRecord(**found)


def _headers(user_agent: Mapping[str, Any]) -> tuple[HeaderRecord, ...]:
    header = user_agent.get("header")
    if header is None:
        return ()
    return tuple(
        [
            HeaderRecord(name, tuple([str(v) for v in (obj(values).get("values") or [])]))
            for name, values in obj(header).items()
        ]
    )


def _metadata(value: Any) -> tuple[MetadataEntry, ...]:
    if not value:  # absent, null or empty
        return ()
    return tuple([MetadataEntry(key, str(item)) for key, item in obj(value).items()])


def parse_session(session: Mapping[str, Any], now: datetime) -> SessionRecord:
    """Normalise one ZITADEL `Session` (every field optional but `id` and `creationDate`)."""
    provider = Provider.ZITADEL  # read once: an Enum's class attributes are slow on 3.11
    native_id = req_str(session, "id")
    created = opt_time(session, "creationDate")
    if created is None:
        raise KeyError("creationDate")
    expires = opt_time(session, "expirationDate")
    factors = obj(session.get("factors") or {})
    user_factor = factors.get("user")
    user = None
    if user_factor is not None:
        data = obj(user_factor)
        user = UserRecord(
            provider,
            req_str(data, "id"),
            login_name=opt_str(data, "loginName"),
            display_name=opt_str(data, "displayName"),
            organization_id=opt_str(data, "organizationId"),
        )
    # No status field upstream: no checked user yet is pending; past expirationDate is expired.
    if user is None:
        status = SessionStatus.PENDING
    elif expires is not None and expires <= now:
        status = SessionStatus.EXPIRED
    else:
        status = SessionStatus.ACTIVE
    agent = obj(session.get("userAgent") or {})
    headers = _headers(agent)
    raw = None
    for header in headers:
        if header.name.lower() == "user-agent" and header.values:
            raw = header.values[0]
            break
    global_id = ids.encode(ids.SESSION, provider, native_id)
    updated = opt_time(session, "changeDate")
    ip = opt_str(agent, "ip")
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=global_id,
        status=status,
        created_at=created,
        updated_at=updated,
        expires_at=expires,
        remote_address=ip,
        user=user,
        user_agent=UserAgentRecord(
            raw=raw,
            ip=ip,
            fingerprint_id=opt_str(agent, "fingerprintId"),
            description=opt_str(agent, "description"),
        )
        if agent
        else None,
        factors=_factors(session.get("factors")),
        metadata=_metadata(session.get("metadata")),
        extras=ZitadelExtras(sequence=opt_str(session, "sequence"), headers=headers),
    )
