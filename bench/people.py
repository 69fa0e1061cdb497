"""Benchmark: the viewer page against the same query written with `sessions(filter: {users:})`,
and signOutOtherSessions over about 100 sessions at five providers.

1. In one process, the mock upstreams (no added latency) and the gateway app called as ASGI
   (bench/request_path.py's way), a caller JWT naming the users of the mock world's hyper.id
   person at all five providers and one of its ZITADEL sessions as current. Two queries of its
   20 newest sessions with user agent and `current`: `viewer { sessions }` and
   `sessions(filter: {users: …})`. Upstream calls per provider of one request each, then CPU
   per request: the modes take turns in rounds, the figure is the median round. Both modes pay
   for the mocks in this process alike, so the difference is the gateway's.
2. The mocks with `--latency` seconds added to every call; a token naming enough users at each
   provider that their person has about 100 open sessions at five providers; one
   signOutOtherSessions, timed from the request to the answer, on a fresh world each round.

Run as `.venv/bin/python bench/people.py [--requests 300] [--rounds 5] [--latency 0.02]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.records import Provider, SessionRecord, SessionStatus
from app.main import create_app
from app.mocks import MockData, MockUpstreams, generate
from app.mocks.people import people_map
from app.settings import Settings
from app.upstream.registry import PACKAGES
from bench.request_path import _post, _started

ISSUER, AUDIENCE = "https://bench.invalid", "session-gateway-bench"


class SigningKey:
    """A P-256 key: its JWKS document, and tokens it signs."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self._private = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> str:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._private.public_key()))
        return json.dumps({"keys": [{**public, "kid": self.kid, "alg": "ES256", "use": "sig"}]})

    def token(self, *, lifetime: int, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime, **claims}
        return jwt.encode(body, self._private, algorithm="ES256", headers={"kid": self.kid})


def all_records(data: MockData) -> list[SessionRecord]:
    """Every session of the world, as the adapters read it at the world's `now`."""
    return [
        package.parse_session(item, data.now)
        for package in PACKAGES
        for item in data.sessions(package.kind.provider.value)
    ]


CLAIMS = {p.value: f"{p.value.lower()}_users" for p in Provider}
FIELDS = "nodes { id current userAgent { description browserName osName deviceType } }"
VIEWER = f"query ViewerPage {{ viewer {{ sessions(first: 20) {{ {FIELDS} }} }} }}"
FILTERED = (
    "query FilteredPage($users: [ProviderUserInput!]) "
    f"{{ sessions(first: 20, filter: {{users: $users}}) {{ {FIELDS} }} }}"
)
SIGN_OUT = "mutation { signOutOtherSessions { ended { id } failed { provider code } } }"
OPEN = {SessionStatus.ACTIVE, SessionStatus.PENDING}


def _env(mocks: MockUpstreams, folder: Path, key: SigningKey, data: MockData) -> dict[str, str]:
    (folder / "jwks.json").write_text(key.jwks())
    (folder / "people.json").write_text(json.dumps(people_map(data)))
    return {
        **mocks.gateway_env(),
        "GATEWAY_CURSOR_SECRET": "bench",
        "GATEWAY_ALLOW_ANONYMOUS": "true",
        "GATEWAY_JWKS_FILE": str(folder / "jwks.json"),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_JWT_USER_CLAIMS": json.dumps(CLAIMS),
        "GATEWAY_JWT_SESSION_CLAIMS": json.dumps({"ZITADEL": "sid"}),
        "GATEWAY_PEOPLE_FILE": str(folder / "people.json"),
    }


def _token(key: SigningKey, users: set[tuple[Provider, str]], current: SessionRecord) -> str:
    claims: dict[str, Any] = {"sub": "bench", "scope": "sessions:revoke", "sid": current.native_id}
    for provider, native_id in sorted(users, key=lambda u: (u[0].value, u[1])):
        claims.setdefault(CLAIMS[provider.value], []).append(native_id)
    return key.token(lifetime=3600, **claims)


def _owned(data: MockData, users: set[tuple[Provider, str]]) -> list[SessionRecord]:
    return [r for r in all_records(data) if r.user and (r.provider, r.user.native_id) in users]


async def _page_cpu(requests: int, rounds: int) -> None:
    data = generate()
    entry = next(e for e in people_map(data) if any(u["provider"] == "HYPERID" for u in e["users"]))
    users = {(Provider(u["provider"]), u["id"]) for u in entry["users"]}
    owned = _owned(data, users)
    current = next(r for r in owned if r.provider is Provider.ZITADEL)
    key = SigningKey("bench")
    bodies = {
        "viewer { sessions }": orjson.dumps({"query": VIEWER}),
        "sessions(filter: {users})": orjson.dumps(
            {
                "query": FILTERED,
                "variables": {
                    "users": [
                        {"provider": p.value, "nativeId": n}
                        for p, n in sorted(users, key=lambda u: (u[0].value, u[1]))
                    ]
                },
            }
        ),
    }
    with tempfile.TemporaryDirectory() as folder:
        async with MockUpstreams(data) as mocks:
            app = create_app(Settings.from_environ(_env(mocks, Path(folder), key, data)))
            headers = ((b"authorization", f"Bearer {_token(key, users, current)}".encode()),)
            async with _started(app) as state:

                async def call(body: bytes) -> bytes:
                    status, answer = await _post(app, state, body, headers)
                    assert status == 200, (status, answer[:300])
                    assert b'"errors"' not in answer, answer[:300]
                    return answer

                answers = {}
                print(
                    f"person {entry['id']}: {len(users)} users, sessions per provider "
                    f"{dict(Counter(r.provider.value for r in owned))}"
                )
                print("\n| query | upstream calls per provider (one request) |")
                print("|---|---|")
                for mode, body in bodies.items():
                    await call(body)  # warm: the document cache, plans, connections
                    mocks.reset_calls()
                    answers[mode] = orjson.loads(await call(body))
                    calls = {p.value: len(mocks.calls(p.value)) for p in Provider}
                    print(f"| {mode} | {calls} |")
                pages = [next(iter(a["data"].values())) for a in answers.values()]
                viewer_nodes = pages[0]["sessions"]["nodes"]
                assert viewer_nodes == pages[1]["nodes"], "the two queries must agree"
                assert sum(n["current"] for n in viewer_nodes) <= 1
                times: dict[str, list[float]] = {mode: [] for mode in bodies}
                for _ in range(rounds):
                    for mode, body in bodies.items():
                        gc.collect()
                        started = time.process_time()
                        for _ in range(requests):
                            await call(body)
                        times[mode].append((time.process_time() - started) * 1000 / requests)
    figures = {mode: statistics.median(t) for mode, t in times.items()}
    base = figures["sessions(filter: {users})"]
    print("\n| query | CPU ms per request (median round) | over the filtered query |")
    print("|---|---:|---:|")
    for mode, ms in figures.items():
        print(f"| {mode} | {ms:.3f} | {ms - base:+.3f} |")


def _wide_users(data: MockData) -> tuple[set[tuple[Provider, str]], SessionRecord]:
    """Users whose open sessions come to about 20 per provider (hyper.id has what it has)."""
    chosen: set[tuple[Provider, str]] = set()
    for provider in Provider:
        count = 0
        for r in sorted(all_records(data), key=lambda r: r.global_id):
            if r.provider is not provider or r.status not in OPEN or r.user is None:
                continue
            user = (provider, r.user.native_id)
            if count < 20 and user not in chosen:
                chosen.add(user)
                count += sum(s.status in OPEN for s in _owned(data, {user}))
    current = next(
        r for r in _owned(data, chosen) if r.provider is Provider.ZITADEL and r.status in OPEN
    )
    return chosen, current


async def _sign_out(latency: float, rounds: int) -> None:
    walls: list[float] = []
    for _ in range(rounds):
        data = generate()
        users, current = _wide_users(data)
        open_sessions = [r for r in _owned(data, users) if r.status in OPEN]
        key = SigningKey("bench")
        with tempfile.TemporaryDirectory() as folder:
            async with MockUpstreams(data, latency=latency) as mocks:
                app = create_app(Settings.from_environ(_env(mocks, Path(folder), key, data)))
                headers = ((b"authorization", f"Bearer {_token(key, users, current)}".encode()),)
                async with _started(app) as state:
                    mocks.reset_calls()
                    started = time.perf_counter()
                    status, answer = await _post(
                        app, state, orjson.dumps({"query": SIGN_OUT}), headers
                    )
                    walls.append(time.perf_counter() - started)
                    result = orjson.loads(answer)["data"]["signOutOtherSessions"]
                    calls = {p.value: len(mocks.calls(p.value)) for p in Provider}
        assert status == 200
        assert result["failed"] == [], result["failed"]
    per_provider = dict(Counter(r.provider.value for r in open_sessions))
    print(
        f"\nsignOutOtherSessions: {len(open_sessions)} open sessions {per_provider}, "
        f"{len(result['ended'])} ended, mock latency {latency * 1000:.0f} ms per call"
    )
    print(f"upstream calls per provider: {calls}")
    print(
        f"wall time, median of {rounds}: {statistics.median(walls) * 1000:.0f} ms "
        f"(3 x latency + 100 ms = {(3 * latency + 0.1) * 1000:.0f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per mock call")
    args = parser.parse_args()
    asyncio.run(_page_cpu(args.requests, args.rounds))
    asyncio.run(_sign_out(args.latency, 3))


if __name__ == "__main__":
    main()
