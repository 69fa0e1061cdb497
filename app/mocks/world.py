"""The people and tenant ids every mock upstream shares, each provider with its own ids."""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.mocks.catalog import FIRST_NAMES, LAST_NAMES, USER_AGENTS, UserAgent, random_ip
from app.mocks.prefactor.pfid import make_pfid

__all__ = ["Device", "Person", "Tenants", "make_people", "make_tenants", "zitadel_id"]

# ZITADEL ids are sonyflake ids counted from this start time.
_SONYFLAKE_START = datetime(2019, 4, 29, tzinfo=UTC)
_OFFICE_IPS = ("198.51.100.10", "198.51.100.11", "198.51.100.12")


@dataclass(frozen=True, slots=True)
class Device:
    """A browser or API client one person uses, with its usual address."""

    user_agent: UserAgent
    ip: str


@dataclass(frozen=True, slots=True)
class Tenants:
    """Provider-level ids: PrivX sources, ZITADEL instance and orgs, Prefactor account."""

    privx_source_ids: tuple[str, ...]
    zitadel_instance_id: str
    zitadel_machine_id: int
    zitadel_orgs: tuple[tuple[str, str], ...]
    zitadel_caller_id: str
    zitadel_login_client_id: str
    prefactor_partition: int
    prefactor_account_id: str
    prefactor_domain_id: str
    prefactor_pool_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Person:
    """One human, known to every provider under that provider's own ids."""

    first_name: str
    last_name: str
    username: str
    email: str
    devices: tuple[Device, ...]
    privx_user_id: str
    privx_username: str
    privx_source_id: str
    zitadel_user_id: str
    zitadel_login_name: str
    zitadel_org_id: str
    prefactor_identity_ids: tuple[str, ...]

    @property
    def display_name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


def zitadel_id(rng: random.Random, moment: datetime, machine_id: int) -> str:
    """A sonyflake id as ZITADEL makes them: 10 ms ticks, 8-bit sequence, 16-bit machine."""
    ticks = (moment - _SONYFLAKE_START) // timedelta(milliseconds=10)
    return str((ticks << 24) | (rng.getrandbits(8) << 16) | machine_id)


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z]", "", decomposed.encode("ascii", "ignore").decode().lower())


def make_tenants(rng: random.Random, now: datetime) -> Tenants:
    """Draw the provider-level ids, all created well before any session."""
    founded = now - timedelta(days=400)
    machine = rng.getrandbits(16)
    partition = rng.getrandbits(30)

    def pfid(days: int) -> str:
        moment = founded + timedelta(days=days, seconds=rng.randint(0, 86_399))
        return make_pfid(int(moment.timestamp() * 1000), partition, rng)

    def zid(days: int) -> str:
        moment = founded + timedelta(days=days, seconds=rng.randint(0, 86_399))
        return zitadel_id(rng, moment, machine)

    return Tenants(
        privx_source_ids=tuple(_uuid4(rng) for _ in range(3)),
        zitadel_instance_id=zid(0),
        zitadel_machine_id=machine,
        zitadel_orgs=((zid(1), "acme.example.com"), (zid(40), "globex.example.net")),
        zitadel_caller_id=zid(60),
        zitadel_login_client_id=zid(2),
        prefactor_partition=partition,
        prefactor_account_id=pfid(0),
        prefactor_domain_id=pfid(1),
        prefactor_pool_ids=(pfid(2), pfid(90)),
    )


def _devices(rng: random.Random) -> tuple[Device, ...]:
    desktops = [ua for ua in USER_AGENTS if ua.kind == "desktop"]
    phones = [ua for ua in USER_AGENTS if ua.kind in {"mobile", "tablet"}]
    clients = [ua for ua in USER_AGENTS if ua.kind == "client"]
    devices = [Device(rng.choice(desktops), rng.choice(_OFFICE_IPS))]
    if rng.random() < 0.6:
        devices.append(Device(rng.choice(phones), random_ip(rng, ipv6_share=0.15)))
    if rng.random() < 0.3:
        devices.append(Device(rng.choice(desktops), random_ip(rng, ipv6_share=0.1)))
    if rng.random() < 0.25:
        devices.append(Device(rng.choice(clients), random_ip(rng, ipv6_share=0.05)))
    return tuple(devices)


def make_people(rng: random.Random, count: int, tenants: Tenants, now: datetime) -> list[Person]:
    """Draw `count` people with unique names, usernames and per-provider ids."""
    first_names = rng.sample(FIRST_NAMES, count)
    people: list[Person] = []
    usernames: set[str] = set()
    for index, first in enumerate(first_names):
        last = rng.choice(LAST_NAMES)
        username = f"{_ascii(first)}.{_ascii(last)}"
        privx_username = f"{_ascii(first)[0]}{_ascii(last)}"
        while privx_username in usernames:
            privx_username += str(rng.randint(1, 9))
        usernames.add(privx_username)
        # Most people are in the first ZITADEL org; a few belong to the partner org.
        org_id, org_domain = tenants.zitadel_orgs[1 if index % 7 == 6 else 0]
        joined = now - timedelta(days=rng.randint(35, 380), seconds=rng.randint(0, 86_399))
        identities = tuple(
            make_pfid(int(joined.timestamp() * 1000) + n, tenants.prefactor_partition, rng)
            for n in range(len(tenants.prefactor_pool_ids))
        )
        people.append(
            Person(
                first_name=first,
                last_name=last,
                username=username,
                email=f"{username}@{org_domain}",
                devices=_devices(rng),
                privx_user_id=_uuid4(rng),
                privx_username=privx_username,
                privx_source_id=rng.choice(tenants.privx_source_ids),
                zitadel_user_id=zitadel_id(rng, joined, tenants.zitadel_machine_id),
                zitadel_login_name=f"{username}@{org_domain}",
                zitadel_org_id=org_id,
                prefactor_identity_ids=identities,
            )
        )
    return people
