"""SSH PrivX sessionstorage (auth service): search sessions, list a user's sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app import ids
from app.upstream._http import Endpoint
from app.upstream._json import list_of, obj, opt_bool, opt_str, opt_time, req_str
from app.upstream.records import (
    PrivxExtras,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)

BASE = "/auth/api/v1/sessionstorage"
# House assumption: the search endpoint has no maximum `limit`. A full listing (parents and
# children of a page, PrivX ids) takes one call up to this many sessions.
SCAN_LIMIT = 5000

# Which raw `sessionResponse` items to parse.
RawFilter = Callable[[Mapping[str, Any]], bool]


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
        keep: RawFilter | None = None,
    ) -> tuple[list[SessionRecord], int]:
        """One page of sessions by creation time, and the total number that match.

        With `keep`, only the items it accepts are parsed and returned (the total is still
        the upstream's): a full listing wanted for a few users or ids parses only those.
        """
        params = {
            "offset": str(offset),
            "limit": str(limit),
            "sortkey": "created",
            "sortdir": "DESC" if descending else "ASC",
        }
        body = {"user_id": user_id} if user_id else {}
        page = await self._endpoint.call(
            "POST",
            f"{BASE}/sessions/search",
            lambda payload: _parse_envelope(payload, keep),
            params=params,
            body=body,
            read=True,
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

    async def all_sessions(
        self, user_id: str | None = None, keep: RawFilter | None = None
    ) -> list[SessionRecord]:
        """Every session (of one user, or all the token may see), in as few calls as it takes.

        `keep` picks the raw items worth parsing, as for `search`.
        """
        first, total = await self.search(
            user_id=user_id, offset=0, limit=SCAN_LIMIT, descending=False, keep=keep
        )
        rest = await asyncio.gather(
            *(
                self.search(
                    user_id=user_id, offset=offset, limit=SCAN_LIMIT, descending=False, keep=keep
                )
                for offset in range(SCAN_LIMIT, total, SCAN_LIMIT)
            )
        )
        return first + [record for page, _ in rest for record in page]


def _parse_envelope(payload: Any, keep: RawFilter | None = None) -> tuple[list[SessionRecord], int]:
    data = obj(payload)
    now = datetime.now(UTC)
    raw = list_of(data, "items", required=True)
    count = data.get("count")
    total = int(count) if count is not None else len(raw)
    if keep is not None:
        raw = [item for item in raw if keep(obj(item))]
    return [parse_session(obj(item), now) for item in raw], total


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
