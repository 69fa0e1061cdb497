"""Three gateway processes sharing one redis-server behave as one gateway.

A real redis-server on a free loopback port, the mock upstreams in this process, and three
gateways started as separate OS processes (`python -m app.cli serve`) with the same
GATEWAY_REDIS_URL and GATEWAY_CURSOR_SECRET. A client round-robins over them. At the end Redis
is killed mid-run (every replica keeps answering, fail-open) and restarted on the same port
(they recover).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from itertools import cycle
from typing import Any

import pytest

from tests.support.digest import sha256
from tests.support.gateways import ThreadedMocks
from tests.support.mode import FAST_PATH
from tests.support.net import free_port
from tests.support.paths import ROOT
from tests.support.redis_server import RedisServer, needs_redis

ADMIN = "replica-admin-key"
LIMITED = "replica-limited-key"
LIMIT = 5
PAGE = "query Page($after: String) { sessions(first: 3, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }"  # noqa: E501
TRUSTED = "query Trusted { providers { provider } }"

pytestmark = [pytest.mark.server, needs_redis]


class Replicas:
    """The gateway processes and a round-robin client."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._next = cycle(range(len(urls)))

    def pick(self) -> int:
        return next(self._next)

    def post(
        self, body: dict[str, Any], key: str = ADMIN, replica: int | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        url = self.urls[self.pick() if replica is None else replica]
        request = urllib.request.Request(
            f"{url}/graphql",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": key},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _lower(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _lower(error.headers), json.loads(error.read())

    def metrics(self, replica: int) -> str:
        with urllib.request.urlopen(f"{self.urls[replica]}/metrics", timeout=30) as response:
            text: str = response.read().decode()
        return text

    def readyz(self, replica: int) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{self.urls[replica]}/readyz", timeout=30) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
        return body


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Replicas, RedisServer, ThreadedMocks]]:
    server = RedisServer(free_port())
    server.start()
    manifest = tmp_path_factory.mktemp("persisted") / "manifest.json"
    manifest.write_text(json.dumps({f"sha256:{sha256(TRUSTED)}": TRUSTED}))
    keys = [
        {"name": "admin", "key": ADMIN, "scopes": ["sessions:read:all", "sessions:revoke:all"]},
        {"name": "limited", "key": LIMITED, "scopes": ["sessions:read:all"],
         "rateLimit": f"{LIMIT}/hour"},
    ]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    with ThreadedMocks() as mocks:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GATEWAY_FAST_PATH": str(FAST_PATH).lower(),
            **mocks.mocks.gateway_env(),
            "GATEWAY_CURSOR_SECRET": "replicas-share-this",
            "GATEWAY_API_KEYS": json.dumps(keys),
            "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{server.port}/0",
            # Generous on a busy machine: a slow answer must not pass for an outage here.
            "GATEWAY_REDIS_TIMEOUT": "3",
            "GATEWAY_RATE_LIMIT": "10000/minute",
            "GATEWAY_RESPONSE_CACHE_TTL": "60",
            "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        }
        urls = []
        try:
            for _ in range(3):
                port = free_port()
                command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                           "--log-level", "warning"]  # fmt: skip
                processes.append(subprocess.Popen(command, cwd=ROOT, env=env))
                urls.append(f"http://127.0.0.1:{port}")
            for url, process in zip(urls, processes, strict=True):
                _wait_healthy(url, process)
            yield Replicas(urls), server, mocks
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            server.stop()


def _sample(metrics: str, name: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {name}")


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"the gateway at {url} exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_walk_started_on_one_replica_continues_on_the_others(
    stack: tuple[Replicas, RedisServer, ThreadedMocks],
) -> None:
    replicas, _, _ = stack
    status, _, whole = replicas.post({"query": PAGE.replace("first: 3", "first: 12")}, replica=0)
    assert status == 200, whole
    expected = [e["node"]["id"] for e in whole["data"]["sessions"]["edges"]]
    walked: list[str] = []
    after = None
    for replica in (1, 2, 0, 1):
        status, _, page = replicas.post(
            {"query": PAGE, "variables": {"after": after}}, replica=replica
        )
        assert (status, "errors" in page) == (200, False), page
        walked += [e["node"]["id"] for e in page["data"]["sessions"]["edges"]]
        after = page["data"]["sessions"]["pageInfo"]["endCursor"]
    assert len(expected) == 12
    assert walked == expected


def test_a_keys_rate_limit_is_global(stack: tuple[Replicas, RedisServer, ThreadedMocks]) -> None:
    replicas, _, _ = stack
    answers = [
        replicas.post({"query": "{ providers { provider } }"}, key=LIMITED)
        for _ in range(LIMIT * 2)
    ]  # round-robin: each replica sees 3 or 4 of them
    allowed = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    assert len(allowed) == LIMIT
    assert len(refused) == LIMIT
    for _, headers, body in refused:
        assert int(headers["retry-after"]) >= 1
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


def test_an_answer_cached_by_one_replica_is_a_hit_on_the_others(
    stack: tuple[Replicas, RedisServer, ThreadedMocks],
) -> None:
    replicas, _, mocks = stack
    body = {"query": PAGE, "variables": {"after": None}, "operationName": "Page"}
    status, headers, first = replicas.post(body, replica=0)
    assert (status, headers["x-cache"]) == (200, "MISS"), first
    before = mocks.upstream_calls()
    for replica in (1, 2):
        status, headers, again = replicas.post(body, replica=replica)
        assert (status, headers["x-cache"]) == (200, "HIT")
        assert again == first
    assert mocks.upstream_calls() == before  # no upstream call for either hit


def test_a_revoke_on_one_replica_purges_the_cache_on_all(
    stack: tuple[Replicas, RedisServer, ThreadedMocks],
) -> None:
    replicas, _, _ = stack
    query = "query Mine { sessions(first: 5, filter: {statuses: [ACTIVE]}) { edges { node { id status } } } }"  # noqa: E501
    body = {"query": query}
    status, headers, first = replicas.post(body, replica=0)
    assert (status, "errors" in first) == (200, False), first
    status, headers, _ = replicas.post(body, replica=1)
    assert headers["x-cache"] == "HIT"
    victim = first["data"]["sessions"]["edges"][0]["node"]["id"]
    revoke = "mutation R($id: ID!) { revokeSession(id: $id) { __typename } }"
    status, _, revoked = replicas.post({"query": revoke, "variables": {"id": victim}}, replica=2)
    assert revoked["data"]["revokeSession"]["__typename"] == "SessionRevoked", revoked
    for replica in (0, 1):
        status, headers, after = replicas.post(body, replica=replica)
        assert status == 200
        if replica == 0:
            assert headers["x-cache"] == "MISS"  # purged: asked the upstreams again
            ids = [e["node"]["id"] for e in after["data"]["sessions"]["edges"]]
            assert victim not in ids
        else:
            assert headers["x-cache"] == "HIT"  # the fresh answer, stored by replica 0


def test_persisted_documents_registered_through_one_replica_work_on_all(
    stack: tuple[Replicas, RedisServer, ThreadedMocks],
) -> None:
    replicas, _, _ = stack
    query = "query Registered { providers { provider enabled } }"
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    status, _, missing = replicas.post({"extensions": apq}, replica=0)
    assert status == 200
    assert missing["errors"][0]["message"] == "PersistedQueryNotFound"
    assert missing["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    status, _, registered = replicas.post({"query": query, "extensions": apq}, replica=0)
    assert (status, "errors" in registered) == (200, False), registered
    for replica in (1, 2):
        status, _, found = replicas.post({"extensions": apq}, replica=replica)
        assert found == registered
        status, _, by_id = replicas.post({"documentId": f"sha256:{sha256(query)}"}, replica=replica)
        assert by_id == registered
    status, _, trusted = replicas.post({"documentId": f"sha256:{sha256(TRUSTED)}"})
    assert status == 200, trusted
    assert trusted["data"]["providers"]


def test_replicas_answer_without_redis_and_recover_when_it_is_back(
    stack: tuple[Replicas, RedisServer, ThreadedMocks],
) -> None:
    replicas, server, _ = stack
    query = {"query": "query Outage { providers { provider name } }"}
    server.stop()
    for _ in range(6):  # twice per replica
        status, headers, body = replicas.post(query)
        assert (status, "errors" in body) == (200, False), body
        assert headers["x-cache"] == "MISS"
    # The limited key spent its 5 per hour above; unlimited while Redis is away (fail-open).
    statuses = [replicas.post(query, key=LIMITED)[0] for _ in range(LIMIT + 1)]
    assert statuses == [200] * (LIMIT + 1)
    for replica in range(3):
        ready = replicas.readyz(replica)
        assert ready["redis"]["up"] is False
        assert ready["status"] == "ready"  # fail-open: Redis down does not stop answering
        metrics = replicas.metrics(replica)
        assert _sample(metrics, "gateway_redis_up") == 0
        assert _sample(metrics, 'gateway_redis_errors_total{feature="rate_limit"}') >= 1
        assert _sample(metrics, 'gateway_response_cache_total{result="skipped"}') >= 1
        assert _sample(metrics, "gateway_rate_limit_skipped_total") >= 1
    server.start()
    deadline = time.monotonic() + 30
    while True:
        # Each replica notices on its own once its pause after the failure has passed.
        seen = [replicas.post(query, replica=r)[1]["x-cache"] for r in range(3)]
        if seen == ["MISS", "HIT", "HIT"] or seen == ["HIT", "HIT", "HIT"]:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    for replica in range(3):
        assert replicas.readyz(replica)["redis"]["up"] is True
