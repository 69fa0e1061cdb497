"""Prefactor `Session_Summary` objects across two pools."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from app.mocks.catalog import USER_AGENTS, UserAgent, random_ipv4
from app.mocks.prefactor.pfid import make_pfid
from app.mocks.world import Person, Tenants

__all__ = ["STATUSES", "prefactor_sessions"]

STATUSES = ("new", "unauthenticated", "authenticated", "complete", "revoked")
_STATUS_WEIGHTS = (5, 10, 45, 25, 15)
_PLACES = (
    ("Helsinki", "FI"), ("Berlin", "DE"), ("Lisbon", "PT"), ("Austin", "US"),
    ("Toronto", "CA"), ("Tokyo", "JP"), ("Sydney", "AU"), ("London", "GB"),
)  # fmt: skip


def _seen(rng: random.Random, at_ms: int, ip: str, user_agent: UserAgent) -> dict[str, Any]:
    seen: dict[str, Any] = {"at": at_ms // 1000, "remote_ip": ip, "user_agent": user_agent.header}
    if rng.random() < 0.35:
        city, country = rng.choice(_PLACES)
        # AS numbers reserved for documentation (RFC 5398), like the addresses.
        seen |= {"asn": rng.randint(64496, 64511), "city": city, "country_code": country}
    return seen


class _Generator:
    """Keeps the per-pool device ids stable while sessions are drawn."""

    def __init__(self, rng: random.Random, tenants: Tenants, now: datetime) -> None:
        self.rng = rng
        self.tenants = tenants
        self.now_ms = int(now.timestamp() * 1000)
        self.devices: dict[tuple[str, str, int], str] = {}

    def pfid(self, at_ms: int) -> str:
        return make_pfid(at_ms, self.tenants.prefactor_partition, self.rng)

    def device_id(self, key: tuple[str, str, int], created_ms: int) -> str:
        if key not in self.devices:
            self.devices[key] = self.pfid(created_ms - self.rng.randint(0, 20 * 86_400_000))
        return self.devices[key]

    def session(self, status: str, person: Person, pool_index: int) -> dict[str, Any]:
        rng = self.rng
        pool_id = self.tenants.prefactor_pool_ids[pool_index]
        created_ms = self.now_ms - int(30 * 86_400_000 * rng.random() ** 1.5) - 1000
        identity: str | None = None
        if status in {"new", "unauthenticated"}:
            # Nobody has signed in yet: often a crawler, a script or a bounced visitor.
            user_agent = rng.choice(USER_AGENTS)
            ip = random_ipv4(rng)
            device_id = self.pfid(created_ms - rng.randint(0, 2000))
        else:
            index = rng.randrange(len(person.devices))
            user_agent, ip = person.devices[index].user_agent, person.devices[index].ip
            ip = ip if ":" not in ip else random_ipv4(rng)
            device_id = self.device_id((pool_id, person.username, index), created_ms)
            identity = person.prefactor_identity_ids[pool_index]
        api = user_agent.kind == "client"
        title = (user_agent.browser if rng.random() < 0.5 else "") if api else user_agent.title
        first_seen = _seen(rng, created_ms, ip, user_agent)
        last_seen: dict[str, Any] | None = None
        if status != "new" and (status != "unauthenticated" or rng.random() < 0.5):
            later = min(created_ms + rng.randint(5_000, 9 * 3_600_000), self.now_ms)
            last_ip = ip if rng.random() < 0.85 else random_ipv4(rng)
            last_seen = _seen(rng, later, last_ip, user_agent)
        return {
            "type": "session",
            "id": self.pfid(created_ms),
            "account_id": self.tenants.prefactor_account_id,
            "domain_id": self.tenants.prefactor_domain_id,
            "pool_id": pool_id,
            "device_id": device_id,
            "authenticated_identity_id": identity,
            "session_type": "api" if api else "browser",
            "status": status,
            "title": title,
            "first_seen": first_seen,
            "last_seen": last_seen,
        }


def prefactor_sessions(
    rng: random.Random, people: list[Person], tenants: Tenants, now: datetime, count: int
) -> list[dict[str, Any]]:
    """Draw `count` sessions covering every status, in PFID (creation) order."""
    generator = _Generator(rng, tenants, now)
    sessions = []
    for index in range(count):
        forced = STATUSES[index // 2] if index < 2 * len(STATUSES) else None
        status = forced or rng.choices(STATUSES, weights=_STATUS_WEIGHTS)[0]
        pool_index = index % 2 if forced else int(rng.random() < 0.4)
        sessions.append(generator.session(status, rng.choice(people), pool_index))
    return sorted(sessions, key=lambda s: str(s["id"]))
