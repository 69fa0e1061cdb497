"""What APQ registration may hold: a per-caller allowance, a total bound (oldest out), in the
process and in a real Redis."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from app.errors import ConfigError
from app.settings import Settings
from tests.live import LiveStack
from tests.test_replicas import REDIS_SERVER, RedisServer, _free_port
from tests.test_shared_state import _post, _sha

KEYS = [
    {"name": "app", "key": "app-key", "scopes": ["sessions:read:all"]},
    {"name": "other", "key": "other-key", "scopes": ["sessions:read:all"]},
    {"name": "ide", "key": "ide-key", "scopes": ["sessions:read:all", "documents:any"]},
]
TRUSTED = "query Trusted { providers { provider } }"
DOCS = [f"query Doc{index} {{ providers {{ provider }} }}" for index in range(5)]
HAS_REDIS = os.access(REDIS_SERVER, os.X_OK)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer | None]:
    if not HAS_REDIS:
        yield None
        return
    found = RedisServer(_free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


def _stack_env(
    store: str, server: RedisServer | None, **extra: str
) -> tuple[dict[str, str], redis.Redis | None]:
    env = {"GATEWAY_ALLOW_ANONYMOUS": "false", "GATEWAY_API_KEYS": json.dumps(KEYS), **extra}
    if store == "process":
        return env, None
    if server is None:
        pytest.skip("redis-server is not installed (scripts/setup-redis)")
    client = redis.Redis(port=server.port, socket_timeout=5)
    client.flushall()
    env["GATEWAY_REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"
    return env, client


def _apq(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": _sha(query)}}


def _register(live: LiveStack, query: str, key: str) -> dict[str, Any]:
    status, _, body = _post(live.url, {"query": query, "extensions": _apq(query)}, key=key)
    assert status == 200, body
    assert body["data"]["providers"], body
    return body


def _known(live: LiveStack, query: str, key: str = "app-key") -> bool:
    _, _, body = _post(live.url, {"extensions": _apq(query)}, key=key)
    if "data" in body and body["data"] is not None:
        return True
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND", body
    return False


@pytest.mark.parametrize("store", ["process", "redis"])
def test_a_caller_registers_at_most_its_allowance_per_window(
    store: str, server: RedisServer | None
) -> None:
    env, _ = _stack_env(
        store, server, GATEWAY_APQ_REGISTRATIONS="3/hour", GATEWAY_RESPONSE_CACHE_TTL="60"
    )
    with LiveStack(env=env) as live:
        for query in DOCS[:3]:
            assert "extensions" not in _register(live, query, "app-key")
        refused = _register(live, DOCS[3], "app-key")  # the fourth still runs...
        note = refused["extensions"]["persistedQuery"]
        assert (note["registered"], note["code"]) == (False, "PERSISTED_QUERY_REGISTRATION_LIMIT")
        assert "3 documents per hour" in note["message"]
        assert "GATEWAY_APQ_REGISTRATIONS" in note["message"]
        assert [_known(live, q) for q in DOCS[:4]] == [True, True, True, False]  # ...not kept
        # The note is that request's own: its answer is not cached for another caller.
        _, headers, plain = _post(live.url, {"query": DOCS[3]}, key="other-key")
        assert (headers["x-cache"], "extensions" in plain) == ("MISS", False)
        # A document known already is not a new registration; another caller has its own.
        assert "extensions" not in _register(live, DOCS[0], "app-key")
        assert "extensions" not in _register(live, DOCS[3], "other-key")
        assert _known(live, DOCS[3])


@pytest.mark.parametrize("store", ["process", "redis"])
def test_the_store_keeps_at_most_its_bound_and_drops_the_oldest(
    store: str, server: RedisServer | None
) -> None:
    env, client = _stack_env(store, server, GATEWAY_APQ_MAX_DOCUMENTS="3")
    with LiveStack(env=env) as live:
        for query in DOCS[:4]:
            assert "extensions" not in _register(live, query, "app-key")
        assert [_known(live, q) for q in DOCS[:4]] == [False, True, True, True]
        if client is not None:
            assert sum(1 for _ in client.scan_iter("gateway:apq:*")) == 3  # the documents
            assert client.zcard("gateway:apqi") == 3


def test_too_large_a_document_runs_and_says_it_was_not_registered() -> None:
    big = "query Big { providers { provider } }" + " " * 300
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_APQ_MAX_BYTES": "256",
    }
    with LiveStack(env=env) as live:
        note = _register(live, big, "app-key")["extensions"]["persistedQuery"]
        assert note["code"] == "PERSISTED_QUERY_TOO_LARGE"
        assert "GATEWAY_APQ_MAX_BYTES" in note["message"]
        assert not _known(live, big)


def test_bad_apq_bounds_stop_start_up() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_APQ_REGISTRATIONS: must be <count>"):
        Settings.from_environ({"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_APQ_REGISTRATIONS": "x"})
    with pytest.raises(ConfigError, match="GATEWAY_APQ_MAX_DOCUMENTS: Input should be greater"):
        Settings.from_environ({"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_APQ_MAX_DOCUMENTS": "0"})
