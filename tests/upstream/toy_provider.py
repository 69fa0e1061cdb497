"""A sixth provider, all in this module, installed the way one from outside the tree would be.

tests/upstream/test_toy_provider.py names `PACKAGE` in a `session_gateway.providers` entry
point and runs tests/upstream/toy_contract.py in a fresh interpreter, where the registry loads
it. Importing this module adds `Provider.TOY`, so nothing else imports it.

Its upstream is `upstream()`, a tiny aiohttp application over a list of sessions:
GET /sessions, GET /sessions/{id}, DELETE /sessions/{id}, GET /users/{id}/sessions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import strawberry
from aiohttp import web
from pydantic import SecretStr

from app.core import ids
from app.core.records import (
    Extras,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.listing.filter import Part, SessionFilter
from app.listing.streams import LocalStream, Stream
from app.upstream.endpoint import Endpoint
from app.upstream.provider import (
    ProviderPackage,
    ProviderSettings,
    RequestScope,
    SessionProvider,
    first_user,
    revoke_each,
)

TOY = Provider.add("TOY")
NOW = datetime.now(UTC).replace(microsecond=0)
USERS = ("ada", "bob", "cy")


@dataclass(frozen=True, slots=True)
class ToyExtras(Extras):
    """The toy's own session field."""

    colour: str


@strawberry.type(description="Toy: the colour of the session.")
class ToySessionExtras:
    colour: str = strawberry.field(description="`red`, `green` or `blue`.")

    @classmethod
    def from_record(cls, extras: ToyExtras) -> ToySessionExtras:
        return cls(colour=extras.colour)


def sessions(count: int = 23) -> list[dict[str, Any]]:
    """The toy upstream's sessions, in its own JSON shape; two share each creation time."""
    return [
        {
            "id": f"t{n:03d}",
            "user": USERS[n % len(USERS)],
            "created": (NOW - timedelta(hours=100 - n // 2)).isoformat(),
            "expires": (NOW + timedelta(days=1 if n % 5 else -1)).isoformat(),
            "ip": f"192.0.2.{n}",
            "agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            "colour": ("red", "green", "blue")[n % 3],
            "revoked": False,
        }
        for n in range(count)
    ]


def parse_session(item: Mapping[str, Any], now: datetime) -> SessionRecord:
    """One toy session, normalised."""
    native_id = str(item["id"])
    expires = datetime.fromisoformat(item["expires"])
    if item["revoked"]:
        status = SessionStatus.REVOKED
    elif expires <= now:
        status = SessionStatus.EXPIRED
    else:
        status = SessionStatus.ACTIVE
    return SessionRecord(
        provider=TOY,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, TOY, native_id),
        status=status,
        created_at=datetime.fromisoformat(item["created"]),
        expires_at=expires,
        remote_address=item["ip"],
        user=UserRecord(TOY, item["user"], login_name=f"{item['user']}@toy.example"),
        user_agent=UserAgentRecord(raw=item["agent"], ip=item["ip"]),
        extras=ToyExtras(colour=item["colour"]),
    )


class ToySettings(ProviderSettings):
    """GATEWAY_TOY_URL, and _TOKEN (sent as a bearer token; the toy checks none)."""

    token: SecretStr | None = None


class ToyClient:
    """The toy upstream's API."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def all(self, path: str = "/sessions") -> list[SessionRecord]:
        now = datetime.now(UTC)
        return await self._endpoint.call(
            "GET", path, lambda payload: [parse_session(s, now) for s in payload]
        )

    async def get(self, native_id: str) -> SessionRecord | None:
        now = datetime.now(UTC)
        return await self._endpoint.call(
            "GET",
            f"/sessions/{quote(native_id, safe='')}",
            lambda payload: parse_session(payload, now),
            expected={404: None},
        )

    async def delete(self, native_id: str) -> RevokeOutcome:
        return await self._endpoint.call(
            "DELETE",
            f"/sessions/{quote(native_id, safe='')}",
            lambda _: RevokeOutcome.REVOKED,
            expected={404: RevokeOutcome.NOT_FOUND, 409: RevokeOutcome.REFUSED},
        )


class ToyProvider(SessionProvider):
    """The toy: one listing, read whole and ordered here."""

    provider = TOY
    title = "Toy"
    description = "Sessions from the toy upstream of the tests."
    settings_class = ToySettings

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        super().__init__(endpoint, settings)
        self.client = ToyClient(endpoint)

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        wanted = session_filter.session_ids_of(TOY)
        if wanted is not None:

            async def load() -> Sequence[SessionRecord]:
                return await self.sessions(wanted, scope)

            residual = session_filter.residual(frozenset({Part.SESSION_IDS}))
        else:

            async def load() -> Sequence[SessionRecord]:
                return await self.client.all()

            residual = session_filter.residual(frozenset())
        return [LocalStream("TOY", TOY, load, residual, descending=descending)]

    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        found = [await self.client.get(native_id) for native_id in dict.fromkeys(native_ids)]
        return [record for record in found if record is not None]

    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        path = f"/users/{quote(native_id, safe='')}/sessions"
        return first_user(await self.client.all(path), native_id)

    async def revoke(self, native_id: str) -> RevokeOutcome:
        return await self.client.delete(native_id)

    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        found = await self.client.all(f"/users/{quote(user_id, safe='')}/sessions")
        return await revoke_each(found, self.revoke)

    async def probe(self) -> None:
        await self.client.all()


PACKAGE = ProviderPackage(ToyProvider, ToySessionExtras, ToyExtras, parse_session)


def upstream(items: list[dict[str, Any]]) -> web.Application:
    """The toy upstream, serving (and revoking in) `items`."""
    by_id = {item["id"]: item for item in items}

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(items)

    async def one(request: web.Request) -> web.Response:
        item = by_id.get(request.match_info["id"])
        return web.json_response(item) if item else web.json_response({}, status=404)

    async def delete(request: web.Request) -> web.Response:
        item = by_id.get(request.match_info["id"])
        if item is None:
            return web.json_response({}, status=404)
        if item["revoked"]:
            return web.json_response({}, status=409)
        item["revoked"] = True
        return web.Response(status=204)

    async def of_user(request: web.Request) -> web.Response:
        return web.json_response([i for i in items if i["user"] == request.match_info["id"]])

    app = web.Application()
    app.router.add_get("/sessions", listing)
    app.router.add_get("/sessions/{id}", one)
    app.router.add_delete("/sessions/{id}", delete)
    app.router.add_get("/users/{id}/sessions", of_user)
    return app
