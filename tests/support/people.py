"""A gateway with people: the mock world's identity map, caller JWTs signed for a JWKS, keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.records import Provider, SessionRecord
from app.mocks import MockData, generate
from app.mocks.data import Person
from app.mocks.people import people_map, person_id
from tests.support.expected import all_records
from tests.support.jwks import AUDIENCE, ISSUER, SigningKey, jwks
from tests.support.live import LiveStack

ADMIN_KEY = "people-admin-key-0123456789"
READER_KEY = "people-reader-key-0123456789"  # sessions:read:all, may end nothing
NOBODY_KEY = "people-nobody-key-0123456789"  # a key without users: not a person
# The claims a caller's token names its users in, per provider, and its ZITADEL session.
USER_CLAIMS = {
    "PRIVX": "privx_user",
    "PREFACTOR": "prefactor_identities",
    "ZITADEL": "zid",
    "HYPERID": "hyperid_user",
    "KRATOS": "kratos_identity",
}
SESSION_CLAIM = "sid"


@dataclass
class PeopleStack:
    """The live stack, its world, and how to sign tokens for its people."""

    live: LiveStack
    key: SigningKey

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def data(self) -> MockData:
        """What the mocks hold now (their own copy, changed by every revoke)."""
        return self.live.mocks.data

    def person(self, index: int) -> Person:
        return self.data.people[index]

    def users(self, person: Person) -> frozenset[tuple[Provider, str]]:
        entry = next(e for e in people_map(self.data) if e["id"] == person_id(person))
        return frozenset((Provider(u["provider"]), u["id"]) for u in entry["users"])

    def sessions(self, person: Person) -> list[SessionRecord]:
        """The person's sessions at every provider, read from the mocks now (newest first)."""
        users = self.users(person)
        found = [
            r
            for r in all_records(self.data)
            if r.user is not None and (r.provider, r.user.native_id) in users
        ]
        return sorted(found, key=lambda r: r.sort_key, reverse=True)

    def token(
        self,
        person: Person,
        session: SessionRecord | None = None,
        *,
        only: Provider | None = None,
        **claims: Any,
    ) -> str:
        """A token naming `person`'s users at every provider (or `only` one), for `session` (a
        ZITADEL one) if given."""
        body: dict[str, Any] = {"sub": person.username, "scope": "sessions:revoke"}
        for provider, native_id in sorted(self.users(person), key=lambda u: (u[0].value, u[1])):
            if only is None or provider is only:
                body.setdefault(USER_CLAIMS[provider.value], []).append(native_id)
        if session is not None:
            body[SESSION_CLAIM] = session.native_id
        return self.key.token(**{**body, **claims})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@contextmanager
def people_stack(folder: Path, env: dict[str, str] | None = None) -> Iterator[PeopleStack]:
    """A fresh world served by mocks and a gateway that knows its people."""
    data = generate()
    key = SigningKey("people")
    (folder / "jwks.json").write_text(jwks(key))
    (folder / "people.json").write_text(json.dumps(people_map(data)))
    keys = [
        {
            "name": "admin",
            "key_sha256": _sha256(ADMIN_KEY),
            "scopes": ["sessions:read:all", "sessions:revoke:all"],
        },
        {"name": "reader", "key_sha256": _sha256(READER_KEY), "scopes": ["sessions:read:all"]},
        {"name": "nobody", "key_sha256": _sha256(NOBODY_KEY)},
    ]
    (folder / "keys.json").write_text(json.dumps(keys))
    settings = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": str(folder / "keys.json"),
        "GATEWAY_JWKS_FILE": str(folder / "jwks.json"),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_JWT_USER_CLAIMS": json.dumps(USER_CLAIMS),
        "GATEWAY_JWT_SESSION_CLAIMS": json.dumps({"ZITADEL": SESSION_CLAIM}),
        "GATEWAY_PEOPLE_FILE": str(folder / "people.json"),
        **(env or {}),
    }

    def public_api(mock_env: Mapping[str, str]) -> dict[str, str]:
        # The mock serves Kratos's public `whoami` beside its admin API.
        return {"GATEWAY_KRATOS_PUBLIC_URL": mock_env["GATEWAY_KRATOS_URL"]}

    with LiveStack(data=data, env=settings, env_of_mocks=public_api) as live:
        yield PeopleStack(live, key)


def active_person(stack: PeopleStack) -> tuple[Person, SessionRecord]:
    """A person with active sessions at three providers or more, and an active ZITADEL session
    of theirs to be the current one."""
    for person in stack.data.people:
        active = [r for r in stack.sessions(person) if r.status.value == "ACTIVE"]
        zitadel = [r for r in active if r.provider is Provider.ZITADEL]
        if zitadel and len({r.provider for r in active}) >= 3:
            return person, zitadel[0]
    raise LookupError("no person with active sessions at three providers")
