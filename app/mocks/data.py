"""Deterministic, realistic session data in each upstream's own JSON shape."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.mocks.hyperid import data as _hyperid_data
from app.mocks.kratos import data as _kratos_data
from app.mocks.prefactor import data as _prefactor_data
from app.mocks.privx import data as _privx_data
from app.mocks.world import Device, Person, make_people, make_tenants
from app.mocks.zitadel import data as _zitadel_data

__all__ = ["Device", "MockData", "Person", "generate"]

PEOPLE = 40


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(eq=True)
class MockData:
    """What the mock upstreams serve: upstream-shaped dicts plus ground truth kept beside them."""

    privx: list[dict[str, Any]] = field(default_factory=list)
    prefactor: list[dict[str, Any]] = field(default_factory=list)
    prefactor_pool_ids: list[str] = field(default_factory=list)
    zitadel: list[dict[str, Any]] = field(default_factory=list)
    hyperid_sessions: list[dict[str, Any]] = field(default_factory=list)
    hyperid_app_authorizations: list[dict[str, Any]] = field(default_factory=list)
    kratos: list[dict[str, Any]] = field(default_factory=list)
    kratos_identities: list[dict[str, Any]] = field(default_factory=list)
    now: datetime = field(default_factory=_utc_now)
    people: list[Person] = field(default_factory=list)
    privx_token_user_id: str = ""
    zitadel_caller_id: str = ""
    zitadel_creators: dict[str, str] = field(default_factory=dict)
    zitadel_instance_id: str = ""
    hyperid_user: Person | None = None

    def sessions(self, provider: str) -> list[dict[str, Any]]:
        """The sessions of the provider named `provider` (`PRIVX`, ...), in its JSON shape."""
        return {
            "PRIVX": self.privx,
            "PREFACTOR": self.prefactor,
            "ZITADEL": self.zitadel,
            "HYPERID": self.hyperid_sessions,
            "KRATOS": self.kratos,
        }[provider]


def generate(
    seed: int = 7,
    *,
    now: datetime | None = None,
    privx_sessions: int = 160,
    prefactor_sessions: int = 120,
    zitadel_sessions: int = 150,
    hyperid_sessions: int = 24,
    kratos_sessions: int = 60,
) -> MockData:
    """Draw a data set; the same seed and `now` always give the same data."""
    now = (now or _utc_now()).astimezone(UTC)
    rng = random.Random(seed)
    tenants = make_tenants(rng, now)
    people = make_people(rng, PEOPLE, tenants, now)
    privx_owner, hyperid_user = people[0], people[1]
    zitadel, creators = _zitadel_data.zitadel_sessions(rng, people, tenants, now, zitadel_sessions)
    # Kratos draws from its own generator, so the other providers' data stays as it was.
    kratos_rng = random.Random(f"kratos:{seed}")
    identities = _kratos_data.kratos_identities(kratos_rng, people, now)
    return MockData(
        privx=_privx_data.privx_sessions(rng, people, now, privx_sessions, privx_owner),
        prefactor=_prefactor_data.prefactor_sessions(rng, people, tenants, now, prefactor_sessions),
        prefactor_pool_ids=list(tenants.prefactor_pool_ids),
        zitadel=zitadel,
        hyperid_sessions=_hyperid_data.hyperid_sessions(rng, hyperid_user, now, hyperid_sessions),
        hyperid_app_authorizations=_hyperid_data.hyperid_app_authorizations(rng, hyperid_user, now),
        kratos=_kratos_data.kratos_sessions(kratos_rng, people, identities, now, kratos_sessions),
        kratos_identities=identities,
        now=now,
        people=people,
        privx_token_user_id=privx_owner.privx_user_id,
        zitadel_caller_id=tenants.zitadel_caller_id,
        zitadel_creators=creators,
        zitadel_instance_id=tenants.zitadel_instance_id,
        hyperid_user=hyperid_user,
    )
