"""A full Redis is not an unreachable one: rate limits stay enforced, APQ registrations are
refused with a clear note while the query still runs, and the gateway finds out when Redis
accepts writes again.

A real redis-server on a free loopback port is filled, then its `maxmemory` set below what it
holds, with the `noeviction` policy: it answers reads and refuses every write that may add
data with an OOM error, as a production Redis does when something filled it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support.digest import sha256
from tests.support.http_calls import post_json
from tests.support.live import LiveStack, get
from tests.support.net import free_port
from tests.support.redis_server import RedisServer, needs_redis

LIMIT = 10
KEYS = [
    {"name": "limited", "key": "limited-key", "scopes": ["sessions:read:all"]},
    {"name": "registrar", "key": "registrar-key", "scopes": ["sessions:read:all"]},
]
QUERY = "query Providers { providers { provider } }"

pytestmark = [pytest.mark.server, needs_redis]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    found = RedisServer(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def store(server: RedisServer) -> Iterator[redis.Redis]:
    """The server emptied, with room again; `fill` makes it full."""
    client = redis.Redis(port=server.port, socket_timeout=5)
    client.config_set("maxmemory", 0)
    client.flushall()
    yield client
    client.config_set("maxmemory", 0)
    client.flushall()
    client.close()


def fill(client: redis.Redis) -> None:
    """About 2 MB of data, then maxmemory at 1 MB under `noeviction`: every write is refused."""
    client.config_set("maxmemory-policy", "noeviction")
    for index in range(64):
        client.set(f"filler:{index}", b"x" * 32 * 1024)
    client.config_set("maxmemory", 1024 * 1024)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.set("one-more", b"x")


def _env(server: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{server.port}/0",
        "GATEWAY_RATE_LIMIT": f"{LIMIT}/minute",
        "GATEWAY_RESPONSE_CACHE_TTL": "60",
        **extra,
    }


def _metric(live: LiveStack, name: str) -> float:
    with urllib.request.urlopen(live.url.replace("/graphql", "/metrics"), timeout=30) as got:
        for line in got.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def _ready(live: LiveStack) -> tuple[int, dict[str, Any]]:
    status, _, raw = get(live.url.replace("/graphql", "/readyz"))
    return status, json.loads(raw)


def test_rate_limits_stay_enforced_while_redis_is_full(
    server: RedisServer, store: redis.Redis
) -> None:
    with LiveStack(env=_env(server)) as live:
        fill(store)
        statuses = [post_json(live.url, {"query": QUERY}, key="limited-key")[0] for _ in range(15)]
        assert statuses == [200] * LIMIT + [429] * 5
        status, _, body = post_json(live.url, {"query": QUERY}, key="limited-key")
        assert (status, body["errors"][0]["extensions"]["code"]) == (429, "RATE_LIMITED")
        assert _metric(live, "gateway_rate_limit_skipped_total") == 0  # nothing let through
        assert _metric(live, "gateway_redis_full") == 1
        status, ready = _ready(live)
        assert status == 200  # fail-open: this replica still serves, counting in its memory
        assert ready["redis"]["up"] is True
        assert ready["redis"]["full"] is True
        # Room again: a probe write finds out, and the shared counters are used again.
        store.config_set("maxmemory", 0)
        deadline = time.monotonic() + 30
        while _ready(live)[1]["redis"].get("full"):
            assert time.monotonic() < deadline, "the gateway never saw Redis accept writes"
            time.sleep(0.2)
        assert _metric(live, "gateway_redis_full") == 0
        assert post_json(live.url, {"query": QUERY}, key="registrar-key")[0] == 200
        assert store.keys("gateway:limits*")  # counted in Redis again


def test_a_full_redis_refuses_requests_when_configured_to_fail_closed(
    server: RedisServer, store: redis.Redis
) -> None:
    with LiveStack(env=_env(server, GATEWAY_RATE_LIMIT_FAIL_OPEN="false")) as live:
        assert post_json(live.url, {"query": QUERY}, key="limited-key")[0] == 200
        fill(store)
        status, headers, body = post_json(live.url, {"query": QUERY}, key="limited-key")
        assert (status, headers["retry-after"]) == (503, "1")
        error = body["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMIT_UNAVAILABLE"
        assert "full" in error["message"]
        status, ready = _ready(live)
        assert status == 503
        assert (ready["redis"]["full"], ready["redis"]["failOpen"]) == (True, False)


def test_a_full_redis_refuses_apq_registration_but_runs_the_query(
    server: RedisServer, store: redis.Redis
) -> None:
    with LiveStack(env=_env(server)) as live:
        fill(store)
        apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(QUERY)}}
        status, _, body = post_json(
            live.url, {"query": QUERY, "extensions": apq}, key="registrar-key"
        )
        assert status == 200
        assert body["data"]["providers"]
        note = body["extensions"]["persistedQuery"]
        assert (note["registered"], note["code"]) == (False, "PERSISTED_QUERY_STORE_FULL")
        assert "full" in note["message"]
        _, _, body = post_json(live.url, {"extensions": apq}, key="registrar-key")
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert _metric(live, "gateway_rate_limit_skipped_total") == 0
