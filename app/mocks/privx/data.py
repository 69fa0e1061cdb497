"""PrivX `sessionResponse` items: login and SSO sessions with their child sessions."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from app.mocks.timestamps import rfc3339_seconds
from app.mocks.world import Device, Person

__all__ = ["privx_sessions"]

_LIFETIMES = (timedelta(hours=8), timedelta(hours=12), timedelta(hours=24))
_TOKEN_LIFETIME = timedelta(minutes=5)


def _age(rng: random.Random) -> timedelta:
    # Cubing a uniform draw skews towards recent sessions, so a good share is still valid.
    return timedelta(seconds=int(30 * 86_400 * rng.random() ** 3) + 60)


def _session(
    rng: random.Random,
    person: Person,
    device: Device,
    kind: str,
    created: datetime,
    expires: datetime,
    now: datetime,
    parent: dict[str, Any] | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "user_id": person.privx_user_id,
        "source_id": person.privx_source_id,
    }
    if parent is not None:
        item["parent_session_id"] = parent["id"]
    elif rng.random() < 0.2:
        item["parent_session_id"] = ""  # Some doc versions show "" rather than omitting it.
    client = device.user_agent.kind == "client"
    active_until = min(expires, now)
    updated = created + timedelta(
        seconds=rng.randint(0, max(0, int((active_until - created).total_seconds())))
    )
    item |= {
        "domain": parent["domain"] if parent else ("privx-api" if client else "privx-ui"),
        "username": person.privx_username,
        "remote_addr": device.ip,
        "user_agent": device.user_agent.header,
        "type": kind,
        "created": rfc3339_seconds(created),
        "updated": rfc3339_seconds(updated),
        "expires": rfc3339_seconds(expires),
        "token_expires": rfc3339_seconds(min(updated + _TOKEN_LIFETIME, expires)),
        "logged_out": bool(parent and parent["logged_out"]) or rng.random() < 0.12,
    }
    return item


def privx_sessions(
    rng: random.Random, people: list[Person], now: datetime, count: int, token_user: Person
) -> list[dict[str, Any]]:
    """Draw `count` sessions: roots of type login/sso, about a fifth children of them."""
    roots: list[dict[str, Any]] = []
    root_count = count - count // 5
    for index in range(root_count):
        person = token_user if index % 12 == 0 else rng.choice(people)
        device = rng.choice(person.devices)
        created = now - _age(rng)
        if index == 0:
            device, created = person.devices[0], now - timedelta(minutes=rng.randint(2, 50))
        elif index % 15 == 7:
            # Deliberate ties: several sessions created in the same second.
            created = datetime.fromisoformat(rng.choice(roots)["created"])
        kind = "sso" if rng.random() < 0.3 else "login"
        expires = created + rng.choice(_LIFETIMES)
        roots.append(_session(rng, person, device, kind, created, expires, now, None))
    roots[0]["logged_out"] = False  # The token's own session is alive: it is making the calls.

    by_user = {p.privx_user_id: p for p in people}
    children: list[dict[str, Any]] = []
    for _ in range(count - root_count):
        parent = rng.choice(roots)
        person = by_user[parent["user_id"]]
        device = next(d for d in person.devices if d.user_agent.header == parent["user_agent"])
        parent_created = datetime.fromisoformat(parent["created"])
        # Children start at most a minute and a half after their parent, often in the same second.
        created = min(parent_created + timedelta(seconds=rng.choice((0, 0, 1, 4, 30, 90))), now)
        expires = datetime.fromisoformat(parent["expires"])
        child = _session(rng, person, device, "child", created, expires, now, parent)
        children.append(child)

    sessions = sorted(roots + children, key=lambda s: (s["created"], s["id"]))
    _mark_current(rng, sessions, token_user, now)
    return sessions


def _mark_current(
    rng: random.Random, sessions: list[dict[str, Any]], token_user: Person, now: datetime
) -> None:
    # `current` is optional: true on the token's own live session, false on some, absent on most.
    live = [
        s
        for s in sessions
        if s["user_id"] == token_user.privx_user_id
        and s["type"] != "child"
        and not s["logged_out"]
        and datetime.fromisoformat(s["expires"]) > now
    ]
    for session in sessions:
        if rng.random() < 0.3:
            session["current"] = False
    if live:
        live[-1]["current"] = True
