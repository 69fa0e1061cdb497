"""SSH PrivX sessionstorage (auth service): search sessions, list a user's sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app import ids
from app.upstream._http import Endpoint, parse_shape
from app.upstream._json import list_of, obj, opt_bool, opt_int, opt_str, opt_time, req_str
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


class PrivxClient:
    """The parts of the PrivX sessionstorage API that the gateway uses."""

    provider = Provider.PRIVX

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def search(
        self, *, user_id: str | None, offset: int, limit: int, descending: bool
    ) -> tuple[list[SessionRecord], int]:
        """One page of sessions by creation time, and the total number that match."""
        params = _search_params(offset, limit, descending)
        body = {"user_id": user_id} if user_id else {}
        page = await self._endpoint.call(
            "POST", f"{BASE}/sessions/search", _parse_envelope, params=params, body=body, read=True
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


def _id(item: Mapping[str, Any]) -> Any:
    return item.get("id") or item.get("session_id")  # v33 names it `session_id`


def _search_params(offset: int, limit: int, descending: bool) -> dict[str, str]:
    return {
        "offset": str(offset),
        "limit": str(limit),
        "sortkey": "created",
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
