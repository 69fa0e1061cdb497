"""Ory Kratos identities and sessions as its admin API renders them (`expand` fully applied).

Each session dict holds the stored `active` flag (the API reports `active` computed at read
time) and shares its identity dict with the person's other sessions.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from app.mocks.timestamps import NS_PER_SECOND, parse_iso_ns, rfc3339_ns, to_ns
from app.mocks.world import Person

__all__ = ["METHOD_PLANS", "kratos_identities", "kratos_sessions", "stamp"]

# Methods in the order they completed. The first sessions take the plans in order, so every
# kind appears whatever the seed.
METHOD_PLANS: tuple[tuple[str, ...], ...] = (
    ("password",), ("password", "totp"), ("webauthn",), ("passkey",), ("oidc",), ("code",),
    ("password", "lookup_secret"), ("password", "webauthn"), ("saml",),
)  # fmt: skip
_PLAN_WEIGHTS = (34, 16, 6, 10, 14, 8, 3, 5, 4)
_SECOND_FACTORS = frozenset({"totp", "lookup_secret", "webauthn"})
_OIDC_PROVIDERS = ("google", "github", "microsoft")
_LIFESPANS = (timedelta(hours=24), timedelta(hours=72), timedelta(days=30))
_OFFICE_LOCATION = "Helsinki, FI"
_LOCATIONS = ("Helsinki, FI", "Tampere, FI", "Stockholm, SE", "Berlin, DE", "Amsterdam, NL",
              "London, GB", "Lisbon, PT", "New York, US", "Toronto, CA", "Tokyo, JP")  # fmt: skip
_SCHEMA_URL = "https://auth.acme.example.com/schemas/ZGVmYXVsdA"  # base64url("default")


def stamp(ns: int) -> str:
    """RFC 3339 as Go writes a Postgres timestamp: microseconds, trailing zeros trimmed."""
    text = rfc3339_ns(ns - ns % 1000, 9)
    return text[:-1].rstrip("0").rstrip(".") + "Z"


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def kratos_identities(
    rng: random.Random, people: list[Person], now: datetime
) -> list[dict[str, Any]]:
    """One identity per person with the example schema's traits; the last one is inactive."""
    identities: list[dict[str, Any]] = []
    for index, person in enumerate(people):
        joined = to_ns(now - timedelta(days=rng.randint(40, 400))) + rng.randrange(NS_PER_SECOND)
        created, updated = stamp(joined), stamp(joined + rng.randint(1, 3600) * NS_PER_SECOND)
        address_id = _uuid4(rng)
        identity: dict[str, Any] = {
            "id": _uuid4(rng),
            "schema_id": "default",
            "schema_url": _SCHEMA_URL,
            "state": "active",
            "traits": {
                "email": person.email,
                "name": {"first": person.first_name, "last": person.last_name},
            },
            "verifiable_addresses": [
                {
                    "id": address_id,
                    "value": person.email,
                    "verified": True,
                    "via": "email",
                    "status": "completed",
                    "verified_at": updated,
                    "created_at": created,
                    "updated_at": updated,
                }
            ],
            "recovery_addresses": [
                {
                    "id": _uuid4(rng),
                    "value": person.email,
                    "via": "email",
                    "created_at": created,
                    "updated_at": created,
                }
            ],
            "metadata_public": None,
            "created_at": created,
            "updated_at": updated,
            "organization_id": None,
        }
        if index == len(people) - 1:
            identity["state"] = "inactive"
            identity["state_changed_at"] = updated
        identities.append(identity)
    return identities


class _Generator:
    """Draws sessions, keeping one device location per person and device."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.locations: dict[tuple[str, int], str] = {}

    def location(self, person: Person, index: int) -> str:
        key = (person.email, index)
        if key not in self.locations:
            office = index == 0  # a person's first device is their office desktop
            # Self-hosted Kratos behind no Cloudflare records an empty location.
            empty = self.rng.random() < 0.2
            self.locations[key] = (
                "" if empty else _OFFICE_LOCATION if office else self.rng.choice(_LOCATIONS)
            )
        return self.locations[key]

    def method(self, kind: str, position: int, completed: int) -> dict[str, Any]:
        aal = "aal2" if position > 0 and kind in _SECOND_FACTORS else "aal1"
        entry: dict[str, Any] = {"method": kind, "aal": aal, "completed_at": stamp(completed)}
        if kind == "oidc":
            entry["provider"] = self.rng.choice(_OIDC_PROVIDERS)
        elif kind == "saml":
            entry["provider"] = "okta"
        return entry

    def session(
        self,
        person: Person,
        identity: dict[str, Any],
        plan: tuple[str, ...],
        issued_ns: int | None = None,
    ) -> dict[str, Any]:
        rng = self.rng
        if issued_ns is None:
            age = timedelta(seconds=30 * 86_400 * rng.random() ** 2 + 60)
            issued_ns = to_ns(self.now - age) + rng.randrange(1000 * 1000)
        completed = issued_ns
        methods = []
        for position, kind in enumerate(plan):
            if position:
                completed += rng.randint(3 * NS_PER_SECOND, 40 * NS_PER_SECOND)
            methods.append(self.method(kind, position, completed))
        authenticated = completed
        if rng.random() < 0.1:
            # A privileged action later asked for the password again: a refresh.
            authenticated += rng.randint(600, 6 * 3600) * NS_PER_SECOND
            methods.append(self.method("password", 0, authenticated))
        lifespan = rng.choices(_LIFESPANS, weights=(6, 2, 2))[0]
        expires = issued_ns + int(lifespan.total_seconds()) * NS_PER_SECOND
        index = rng.randrange(len(person.devices))
        device = person.devices[index]
        return {
            "id": _uuid4(rng),
            "active": rng.random() >= 0.15,  # the stored flag: false once disabled or logged out
            "expires_at": stamp(expires),
            "authenticated_at": stamp(authenticated),
            "authenticator_assurance_level": max(m["aal"] for m in methods),
            "authentication_methods": methods,
            "issued_at": stamp(issued_ns),
            "identity": identity,
            "devices": [
                {
                    "id": _uuid4(rng),
                    "ip_address": device.ip,
                    "user_agent": device.user_agent.header,
                    "location": self.location(person, index),
                }
            ],
        }


def kratos_sessions(
    rng: random.Random,
    people: list[Person],
    identities: list[dict[str, Any]],
    now: datetime,
    count: int,
) -> list[dict[str, Any]]:
    """Draw `count` sessions of the people's identities covering every method plan."""
    generator = _Generator(rng, now)
    sessions: list[dict[str, Any]] = []
    for index in range(count):
        plan = (
            METHOD_PLANS[index]
            if index < len(METHOD_PLANS)
            else rng.choices(METHOD_PLANS, _PLAN_WEIGHTS)[0]
        )
        who = rng.randrange(len(people))
        if index % 25 == 12:
            # Now and then two sessions are issued in the same microsecond.
            tie = parse_iso_ns(sessions[-1]["issued_at"])
            session = generator.session(people[who], identities[who], plan, tie)
        else:
            session = generator.session(people[who], identities[who], plan)
        sessions.append(session)
    return sessions
