"""Sessions that begin and end while the mocks run: for live-event tests, benches and the demo.

`create_session`/`end_session` and `churn` work on Kratos (a copy of an existing person's
session, issued now; ending clears its stored `active` flag, as Kratos's own disable does).
`begin` makes a new session at any paged upstream, as that upstream would list it. Call these
on the mocks' event loop: the handlers read the same lists.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.mocks.data import MockData
from app.mocks.kratos.data import stamp
from app.mocks.prefactor.pfid import make_pfid, pfid_partition
from app.mocks.timestamps import rfc3339_ns, rfc3339_seconds
from app.mocks.world import zitadel_id

__all__ = ["begin", "churn", "create_session", "end_session"]

log = logging.getLogger("session_gateway.mocks")

NS_PER_SECOND = 1_000_000_000
LIFESPAN_SECONDS = 86_400


def create_session(data: MockData, rng: random.Random | None = None) -> dict[str, Any]:
    """A new active Kratos session of a random person who has one, issued now; returned."""
    rng = rng or random.Random()
    usable = [s for s in data.kratos if s["identity"].get("state") == "active"]
    template = rng.choice(usable or data.kratos)
    session = copy.deepcopy(template)
    now = time.time_ns()
    session.update(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        active=True,
        issued_at=stamp(now),
        authenticated_at=stamp(now),
        expires_at=stamp(now + LIFESPAN_SECONDS * NS_PER_SECOND),
    )
    for method in session["authentication_methods"]:
        method["completed_at"] = stamp(now)
    data.kratos.append(session)
    return session


def begin(data: MockData, provider: str, rng: random.Random | None = None) -> dict[str, Any]:
    """A new active session at `provider` (PRIVX, PREFACTOR, ZITADEL or KRATOS), created now,
    a copy of one of its live sessions with a fresh id; appended to its list and returned."""
    if provider == "KRATOS":
        return create_session(data, rng)
    rng = rng or random.Random()
    sessions = data.sessions(provider)
    now = time.time_ns()
    moment = datetime.fromtimestamp(now / NS_PER_SECOND, UTC)
    session = copy.deepcopy(rng.choice(sessions))
    if provider == "PRIVX":
        session.update(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            created=rfc3339_seconds(moment),
            updated=rfc3339_seconds(moment),
            expires=rfc3339_seconds(moment + timedelta(seconds=LIFESPAN_SECONDS)),
            token_expires=rfc3339_seconds(moment + timedelta(minutes=5)),
            logged_out=False,
            type="login",
        )
        session.pop("parent_session_id", None)
    elif provider == "PREFACTOR":
        partition = pfid_partition(session["id"])
        session.update(
            id=make_pfid(now // 1_000_000, partition, rng), status="authenticated", last_seen=None
        )
        session["first_seen"] = dict(session["first_seen"] or {}, at=now // NS_PER_SECOND)
        if session.get("authenticated_identity_id") is None:
            pool = data.prefactor_pool_ids.index(session["pool_id"])
            identities = rng.choice(data.people).prefactor_identity_ids
            session["authenticated_identity_id"] = identities[pool]
    elif provider == "ZITADEL":
        session = copy.deepcopy(rng.choice([s for s in sessions if "user" in s.get("factors", {})]))
        machine = int(session["id"]) & 0xFFFF
        session.update(
            id=zitadel_id(rng, moment, machine),
            creationDate=rfc3339_ns(now, 6),
            changeDate=rfc3339_ns(now, 6),
            expirationDate=rfc3339_ns(now + LIFESPAN_SECONDS * NS_PER_SECOND, 6),
        )
    else:
        raise ValueError(f"cannot begin a session at {provider!r}")
    sessions.append(session)
    return session


def end_session(data: MockData, session_id: str) -> bool:
    """Log the Kratos session out (its stored flag off); False when there is no such session."""
    for session in data.kratos:
        if session["id"] == session_id:
            session["active"] = False
            return True
    return False


async def churn(data: MockData, every: float = 3.0, seed: int | None = None) -> None:
    """Forever: every `every` seconds a session begins, and one begun earlier ends."""
    rng = random.Random(seed)
    started: list[str] = []
    while True:
        await asyncio.sleep(every)
        started.append(create_session(data, rng)["id"])
        if len(started) > 2:
            end_session(data, started.pop(rng.randrange(len(started) - 1)))
