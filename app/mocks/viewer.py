"""The demo's viewer: a person of the mock world, the people file, and a token signed for them.

`session-gateway demo` serves the world's people (GATEWAY_PEOPLE_FILE), checks tokens against
a key made at start-up (GATEWAY_JWKS_FILE) and prints a token of one person with sessions at
several providers, naming one of their ZITADEL sessions as the current one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.records import Provider, SessionRecord, SessionStatus
from app.mocks.data import MockData, Person
from app.mocks.people import people_map, person_id
from app.upstream.registry import PACKAGES

ISSUER = "https://demo.session-gateway.invalid"
AUDIENCE = "session-gateway-demo"
KEY_ID = "demo"
# Claims naming the caller's users at each provider, and its session at ZITADEL.
USER_CLAIMS = {
    "PRIVX": "privx_user",
    "PREFACTOR": "prefactor_identities",
    "ZITADEL": "zitadel_user",
    "HYPERID": "hyperid_user",
    "KRATOS": "kratos_identity",
}
SESSION_CLAIMS = {"ZITADEL": "sid"}
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class DemoViewer:
    """Who the demo token stands for, the token, and the settings that make the gateway take it."""

    person: Person
    person_id: str
    current: SessionRecord
    token: str
    env: dict[str, str]


def _sessions(data: MockData, users: set[tuple[Provider, str]]) -> list[SessionRecord]:
    records = [
        package.parse_session(item, data.now)
        for package in PACKAGES
        for item in data.sessions(package.kind.provider.value)
    ]
    owned = [r for r in records if r.user and (r.provider, r.user.native_id) in users]
    return sorted(owned, key=lambda r: r.sort_key, reverse=True)


def demo_viewer(data: MockData, folder: Path) -> DemoViewer:
    """Write the people file and the JWKS into `folder`; the viewer and its token."""
    entries = people_map(data)
    (folder / "people.json").write_text(json.dumps(entries, indent=1))
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": KEY_ID, "alg": "ES256", "use": "sig"}]}
    (folder / "jwks.json").write_text(json.dumps(jwks))
    person, users, current = _signed_in_widely(data, entries)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": person.username,
        "name": person.display_name,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "scope": "sessions:revoke",
        SESSION_CLAIMS["ZITADEL"]: current.native_id,
    }
    for provider, native_id in sorted(users, key=lambda u: (u[0].value, u[1])):
        claims.setdefault(USER_CLAIMS[provider.value], []).append(native_id)
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": KEY_ID})
    env = {
        "GATEWAY_PEOPLE_FILE": str(folder / "people.json"),
        "GATEWAY_JWKS_FILE": str(folder / "jwks.json"),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_JWT_USER_CLAIMS": json.dumps(USER_CLAIMS),
        "GATEWAY_JWT_SESSION_CLAIMS": json.dumps(SESSION_CLAIMS),
    }
    return DemoViewer(person, person_id(person), current, token, env)


def _signed_in_widely(
    data: MockData, entries: list[dict[str, Any]]
) -> tuple[Person, set[tuple[Provider, str]], SessionRecord]:
    """The first person signed in at three providers or more, ZITADEL among them: the person,
    their users, and their newest active ZITADEL session."""
    for person, entry in zip(data.people, entries, strict=True):
        users = {(Provider(u["provider"]), u["id"]) for u in entry["users"]}
        active = [r for r in _sessions(data, users) if r.status is SessionStatus.ACTIVE]
        zitadel = [r for r in active if r.provider is Provider.ZITADEL]
        if zitadel and len({r.provider for r in active}) >= 3:
            return person, users, zitadel[0]
    raise LookupError("the mock world has nobody signed in at three providers")
