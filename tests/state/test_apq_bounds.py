"""What APQ registration may hold: a per-caller allowance, a total bound (oldest out), in the
process and in a real Redis; and in `require` mode a registered document runs only for callers
with `documents:any`, by every path (HTTP POST and GET, `documentId`, SSE, WebSocket)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.core.errors import ConfigError
from app.http.media import EVENT_STREAM
from app.settings import Settings
from tests.support.digest import sha256
from tests.support.http_calls import post_json
from tests.support.live import LiveStack
from tests.support.net import free_port
from tests.support.redis_server import HAS_REDIS, RedisServer

pytestmark = pytest.mark.server

KEYS = [
    {"name": "app", "key": "app-key", "scopes": ["sessions:read:all"]},
    {"name": "other", "key": "other-key", "scopes": ["sessions:read:all"]},
    {"name": "ide", "key": "ide-key", "scopes": ["sessions:read:all", "documents:any"]},
]
TRUSTED = "query Trusted { providers { provider } }"
DOCS = [f"query Doc{index} {{ providers {{ provider }} }}" for index in range(5)]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer | None]:
    if not HAS_REDIS:
        yield None
        return
    found = RedisServer(free_port())
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
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}


def _register(live: LiveStack, query: str, key: str) -> dict[str, Any]:
    status, _, body = post_json(live.url, {"query": query, "extensions": _apq(query)}, key=key)
    assert status == 200, body
    assert body["data"]["providers"], body
    return body


def _known(live: LiveStack, query: str, key: str = "app-key") -> bool:
    _, _, body = post_json(live.url, {"extensions": _apq(query)}, key=key)
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
        _, headers, plain = post_json(live.url, {"query": DOCS[3]}, key="other-key")
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


SUBSCRIPTION = "subscription Registered { sessionEvents(includeInitial: true) { kind } }"


@pytest.fixture(scope="module")
def require(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    manifest = tmp_path_factory.mktemp("require") / "manifest.json"
    manifest.write_text(json.dumps({f"sha256:{sha256(TRUSTED)}": TRUSTED}))
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        "GATEWAY_PERSISTED_DOCUMENTS_MODE": "require",
        "GATEWAY_POLL_INTERVAL": "1",
    }
    with LiveStack(env=env) as live:
        _register(live, DOCS[0], "ide-key")  # registered by a key with documents:any
        status, _ = _sse(live, {"query": SUBSCRIPTION, "extensions": _apq(SUBSCRIPTION)}, "ide-key")
        assert status == 200
        yield live


def _sse(live: LiveStack, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any] | None]:
    """The status of an SSE request; the error body when refused (a stream is just closed)."""
    headers = {"Content-Type": "application/json", "Accept": EVENT_STREAM, "X-API-Key": key}
    request = urllib.request.Request(live.url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["content-type"].startswith(EVENT_STREAM)
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _get(live: LiveStack, params: dict[str, str], key: str) -> dict[str, Any]:
    url = f"{live.url}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Accept": "application/json", "X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read())
    return answer


async def _ws_first(live: LiveStack, key: str, query: str) -> dict[str, Any]:
    """The first answer to one graphql-transport-ws subscribe (`next` or `error`)."""
    url = live.url.replace("http://", "ws://")
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query}}
        await socket.send(json.dumps(subscribe))
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 30))
            if message["type"] in ("next", "error"):
                return message


def _code(body: dict[str, Any] | None) -> str:
    assert body is not None
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def test_in_require_mode_registered_documents_need_documents_any(
    require: LiveStack,
) -> None:
    digest = sha256(DOCS[0])
    by_hash = json.dumps(_apq(DOCS[0]))
    for key, runs in (("app-key", False), ("ide-key", True)):
        answers = [
            post_json(require.url, {"extensions": _apq(DOCS[0])}, key=key)[2],
            post_json(require.url, {"documentId": digest}, key=key)[2],
            post_json(require.url, {"documentId": f"sha256:{digest}"}, key=key)[2],
            _get(require, {"extensions": by_hash}, key),
            _get(require, {"documentId": digest}, key),
        ]
        for answer in answers:
            if runs:
                assert answer["data"]["providers"], answer
            else:
                assert _code(answer) == "PERSISTED_QUERY_NOT_FOUND", answer
                assert answer.get("data") is None
    # Its text is an arbitrary document for a key without documents:any; a trusted one runs.
    body = {"query": DOCS[0], "extensions": _apq(DOCS[0])}
    status, _, body = post_json(require.url, body, key="app-key")
    assert (status, _code(body)) == (400, "PERSISTED_DOCUMENT_REQUIRED")
    assert post_json(require.url, {"documentId": sha256(TRUSTED)}, key="app-key")[2]["data"]


def test_in_require_mode_registered_subscriptions_need_documents_any(
    require: LiveStack,
) -> None:
    digest = sha256(SUBSCRIPTION)
    for body in ({"documentId": digest}, {"extensions": _apq(SUBSCRIPTION)}):
        status, refused = _sse(require, body, "app-key")
        assert (status, _code(refused)) == (400, "PERSISTED_QUERY_NOT_FOUND")
        assert _sse(require, body, "ide-key") == (200, None)
    refused_ws = asyncio.run(_ws_first(require, "app-key", SUBSCRIPTION))
    assert refused_ws["type"] == "error"
    assert refused_ws["payload"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"
    assert asyncio.run(_ws_first(require, "ide-key", SUBSCRIPTION))["type"] == "next"


def test_bad_apq_bounds_stop_start_up() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_APQ_REGISTRATIONS: must be <count>"):
        Settings.from_environ({"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_APQ_REGISTRATIONS": "x"})
    with pytest.raises(ConfigError, match="GATEWAY_APQ_MAX_DOCUMENTS: Input should be greater"):
        Settings.from_environ({"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_APQ_MAX_DOCUMENTS": "0"})
