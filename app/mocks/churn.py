"""Sessions that begin and end while the mocks run: for live-event tests and the demo.

New sessions are Kratos sessions (copies of an existing person's, issued now); ending one
clears its stored `active` flag, as Kratos's own disable does. Call these on the mocks' event
loop: the handlers read the same lists.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
import uuid
from typing import Any

from app.mocks.data import MockData
from app.mocks.kratos.data import stamp

__all__ = ["churn", "create_session", "end_session"]

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
