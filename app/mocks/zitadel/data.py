"""ZITADEL Session v2 objects in grpc-gateway JSON (lowerCamelCase, unset fields omitted)."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from app.mocks.catalog import USER_AGENTS, UserAgent, random_ip
from app.mocks.timestamps import NS_PER_SECOND, parse_iso_ns, rfc3339_ns, to_ns
from app.mocks.world import Person, Tenants, zitadel_id

__all__ = ["FACTOR_KINDS", "zitadel_sessions"]

FACTOR_KINDS = (
    "user", "password", "webAuthN", "intent", "totp", "otpSms", "otpEmail", "recoveryCode",
)  # fmt: skip
# Checks after the user factor (None: pending, no factors at all). The first sessions take
# the plans in order, so every factor kind appears whatever the seed.
_PLANS: tuple[tuple[str, ...] | None, ...] = (
    None, (), ("password",), ("webAuthN",), ("intent",), ("password", "totp"),
    ("password", "otpSms"), ("password", "otpEmail"), ("password", "recoveryCode"),
)  # fmt: skip
_PLAN_WEIGHTS = (3, 6, 38, 18, 10, 13, 6, 6, 3)
_LIFETIMES = (timedelta(hours=1), timedelta(hours=12), timedelta(hours=24), timedelta(days=7))
_METADATA = (("client", b"web-app"), ("app_version", b"3.14.2"), ("tenant", b"acme"),
             ("device", b"laptop"), ("channel", b"mobile-app"))  # fmt: skip
_MS = 1_000_000


def _stamp(rng: random.Random, ns: int) -> str:
    """Format with 0, 3, 6 or 9 fractional digits, or with trailing zeros trimmed."""
    style = rng.choices(("9", "6", "3", "0", "trim"), weights=(30, 35, 15, 5, 15))[0]
    if style == "trim":
        step = rng.choice((1000, 10 * _MS))
        text = rfc3339_ns(ns - ns % step, 9)
        return text[:-1].rstrip("0").rstrip(".") + "Z"
    digits = int(style)
    return rfc3339_ns(ns - ns % 10 ** (9 - digits), digits)


class _Generator:
    """Draws sessions, keeping one user-agent fingerprint per person and device."""

    def __init__(self, rng: random.Random, tenants: Tenants, now: datetime) -> None:
        self.rng = rng
        self.tenants = tenants
        self.now = now
        self.fingerprints: dict[tuple[str, int], str] = {}

    def fingerprint(self, key: tuple[str, int], created: datetime) -> str:
        if key not in self.fingerprints:
            seen = created - timedelta(days=self.rng.randint(0, 20))
            self.fingerprints[key] = zitadel_id(self.rng, seen, self.tenants.zitadel_machine_id)
        return self.fingerprints[key]

    def user_agent(self, user_agent: UserAgent, ip: str, fingerprint: str) -> dict[str, Any]:
        agent: dict[str, Any] = {"fingerprintId": fingerprint, "ip": ip}
        if self.rng.random() < 0.9:
            agent["description"] = user_agent.title
        if self.rng.random() < 0.9:
            agent["header"] = {"User-Agent": {"values": [user_agent.header]}}
        return agent

    def session(
        self, person: Person, plan: tuple[str, ...] | None, created_ns: int | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        if created_ns is None:
            age = timedelta(seconds=30 * 86_400 * rng.random() ** 1.5 + 1)
            created_ns = to_ns(self.now - age) + rng.randrange(1000)
        created = datetime.fromtimestamp(created_ns // NS_PER_SECOND, UTC)
        factors: dict[str, Any] = {}
        if plan is not None:
            verified = created_ns - rng.randint(0, 20 * _MS)
            factors["user"] = {
                "verifiedAt": _stamp(rng, verified),
                "id": person.zitadel_user_id,
                "loginName": person.zitadel_login_name,
                "displayName": person.display_name,
                "organizationId": person.zitadel_org_id,
            }
        last_ns = created_ns
        for kind in plan or ():
            last_ns += rng.randint(NS_PER_SECOND * 3 // 2, NS_PER_SECOND * 25)
            factors[kind] = {"verifiedAt": _stamp(rng, last_ns)}
            if kind == "webAuthN" and rng.random() < 0.75:
                factors[kind]["userVerified"] = True
        metadata = {
            key: base64.b64encode(value).decode()
            for key, value in rng.sample(_METADATA, rng.choice((0, 0, 0, 1, 2)))
        }
        creation = _stamp(rng, created_ns)
        change = _stamp(rng, last_ns + rng.randint(_MS, 30 * _MS))
        if parse_iso_ns(change) < parse_iso_ns(creation):
            change = creation  # Dropped digits must not move a change before the creation.
        session: dict[str, Any] = {
            "id": zitadel_id(rng, created, self.tenants.zitadel_machine_id),
            "creationDate": creation,
            "changeDate": change,
            "sequence": str(1 + len(factors) + bool(metadata)),
        }
        if factors:
            session["factors"] = factors
        if metadata:
            session["metadata"] = metadata
        if plan is None:
            # Pending sessions often come from crawlers and scripts, not from people.
            user_agent, ip = rng.choice(USER_AGENTS), random_ip(rng)
            fingerprint = zitadel_id(rng, created, self.tenants.zitadel_machine_id)
        else:
            index = rng.randrange(len(person.devices))
            user_agent, ip = person.devices[index].user_agent, person.devices[index].ip
            fingerprint = self.fingerprint((person.zitadel_user_id, index), created)
        if rng.random() < 0.88:
            session["userAgent"] = self.user_agent(user_agent, ip, fingerprint)
        if rng.random() < 0.85:
            lifetime = rng.choices(_LIFETIMES, weights=(2, 4, 3, 3))[0]
            expires_ns = created_ns + int(lifetime.total_seconds()) * NS_PER_SECOND
            session["expirationDate"] = _stamp(rng, expires_ns)
        return session


def zitadel_sessions(
    rng: random.Random, people: list[Person], tenants: Tenants, now: datetime, count: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Draw `count` sessions covering every factor kind, and who created each one."""
    generator = _Generator(rng, tenants, now)
    sessions: list[dict[str, Any]] = []
    creators: dict[str, str] = {}
    for index in range(count):
        plan = _PLANS[index] if index < len(_PLANS) else rng.choices(_PLANS, _PLAN_WEIGHTS)[0]
        person = rng.choice(people)
        if index % 50 == 20:
            # Now and then two sessions are created in the same instant.
            tie = parse_iso_ns(sessions[-1]["creationDate"])
            session = generator.session(person, plan, tie)
            session["creationDate"] = sessions[-1]["creationDate"]
        else:
            session = generator.session(person, plan)
        while session["id"] in creators:
            # Two sessions in one 10 ms tick drew the same sequence bits: ZITADEL would have
            # counted the sequence on (ids are unique), so the mock does.
            session["id"] = str(int(session["id"]) + (1 << 16))
        sessions.append(session)
        creators[session["id"]] = tenants.zitadel_login_client_id
        if plan is not None:
            # Mostly the login UI's service user; sometimes the user itself or the API caller.
            creators[session["id"]] = rng.choices(
                (
                    tenants.zitadel_login_client_id,
                    person.zitadel_user_id,
                    tenants.zitadel_caller_id,
                ),
                weights=(70, 15, 15),
            )[0]
    return sessions, creators
