"""Rate limits, response cache and persisted documents in one process (no Redis), and what
happens when Redis fails (fakeredis): the edge cases the replica test does not cover."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from app.auth.principal import Principal
from app.core.errors import ConfigError
from app.core.records import Provider
from app.main import create_app
from app.observability.metrics import Metrics
from app.settings import Settings
from app.state.persisted import load_manifest
from app.state.ratelimit import RateLimiter, parse_limit
from app.state.response_cache import ResponseCache, key_of, revoked_tags, scope_of, tags_of
from app.state.shared import Shared
from app.upstream.revocations import Revoked
from resolvers.schema import schema
from tests.support.digest import sha256
from tests.support.http_calls import post_json
from tests.support.jwks import AUDIENCE, ISSUER, SigningKey, jwks
from tests.support.live import LiveStack, get
from tests.support.net import free_port

KEYS = [
    {"name": "ops", "key": "ops-key", "scopes": ["sessions:read:all", "sessions:revoke:all"]},
    {"name": "app", "key": "app-key", "users": [{"provider": "PRIVX", "id": "nobody-here"}]},
    {"name": "trusted", "key": "any-key", "scopes": ["sessions:read:all", "documents:any"]},
    {"name": "slow", "key": "slow-key", "scopes": ["sessions:read:all"], "rateLimit": "2/hour"},
]
PAGE = "{ sessions(first: 3) { edges { node { id } } } }"
PROVIDERS = "query P { providers { provider } }"


def _post(
    url: str, body: dict[str, Any], key: str | None = "ops-key", accept: str = "application/json"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """`post_json` with the ops key unless told otherwise."""
    return post_json(url, body, key, accept)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "manifest.json"
    operations = [{"id": sha256(PROVIDERS), "name": "P", "type": "query", "body": PROVIDERS}]
    path.write_text(
        json.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
        )
    )
    return path


@pytest.fixture(scope="module")
def live(manifest: Path) -> Iterator[LiveStack]:
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_RESPONSE_CACHE_TTL": "60",
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        "GATEWAY_APQ_MAX_BYTES": "256",
    }
    with LiveStack(env=env) as stack:
        yield stack


def test_cache_is_never_shared_across_visibility(live: LiveStack) -> None:
    status, headers, everyone = _post(live.url, {"query": PAGE})
    assert (status, headers["x-cache"]) == (200, "MISS")
    assert everyone["data"]["sessions"]["edges"]
    _, headers, again = _post(live.url, {"query": PAGE}, key="any-key")  # also sees all
    assert (headers["x-cache"], again) == ("HIT", everyone)
    _, headers, own = _post(live.url, {"query": PAGE}, key="app-key")
    assert headers["x-cache"] == "MISS"
    assert own["data"]["sessions"]["edges"] == []


def test_a_hit_follows_the_accept_negotiation(live: LiveStack) -> None:
    _post(live.url, {"query": PROVIDERS})
    status, headers, body = _post(
        live.url, {"query": PROVIDERS}, accept="application/graphql-response+json"
    )
    assert (status, headers["x-cache"]) == (200, "HIT")
    assert headers["content-type"].startswith("application/graphql-response+json")
    assert body["data"]["providers"]


def test_answers_with_errors_and_mutations_are_not_cached(live: LiveStack) -> None:
    bad = {"query": '{ session(id: "not-a-global-id") { id } }'}
    for _ in range(2):
        _, headers, body = _post(live.url, bad)
        assert body["errors"]
        assert headers["x-cache"] == "MISS"
    mutation = {"query": 'mutation { revokeSession(id: "VGVzdA") { __typename } }'}
    for _ in range(2):
        _, headers, body = _post(live.url, mutation)
        assert "x-cache" not in headers or headers["x-cache"] == "MISS"


def test_a_revoke_purges_the_entries_holding_the_session(live: LiveStack) -> None:
    query = {
        "query": "{ sessions(first: 4, filter: {statuses: [ACTIVE]}) { edges { node { id } } } }"
    }
    _, _, first = _post(live.url, query)
    assert _post(live.url, query)[1]["x-cache"] == "HIT"
    victim = first["data"]["sessions"]["edges"][0]["node"]["id"]
    revoke = {"query": f'mutation {{ revokeSession(id: "{victim}") {{ __typename }} }}'}
    assert _post(live.url, revoke)[2]["data"]["revokeSession"]["__typename"] == "SessionRevoked"
    _, headers, after = _post(live.url, query)
    assert headers["x-cache"] == "MISS"
    assert victim not in json.dumps(after)


def test_revoking_a_users_sessions_purges_the_entries_naming_the_user(live: LiveStack) -> None:
    query = {
        "query": "{ sessions(first: 5, filter: {statuses: [ACTIVE], providers: [ZITADEL]}) "
        "{ edges { node { id user { id } } } } }"
    }
    _, _, first = _post(live.url, query)
    assert _post(live.url, query)[1]["x-cache"] == "HIT"
    user = first["data"]["sessions"]["edges"][0]["node"]["user"]["id"]
    revoke = {"query": f'mutation {{ revokeUserSessions(userId: "{user}") {{ __typename }} }}'}
    _, _, revoked = _post(live.url, revoke)
    assert "errors" not in revoked, revoked
    _, headers, after = _post(live.url, query)
    assert headers["x-cache"] == "MISS"
    assert user not in json.dumps(after)


@pytest.mark.server
def test_graphiql_page_loads_in_require_mode(manifest: Path) -> None:
    env = {
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        "GATEWAY_PERSISTED_DOCUMENTS_MODE": "require",
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
    }
    with LiveStack(env=env) as live:
        request = urllib.request.Request(live.url, headers={"Accept": "text/html"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert b"<html" in response.read().lower()
        introspection = {"query": "{ __schema { queryType { name } } }"}
        status, _, body = _post(live.url, introspection, key="any-key")
        assert (status, body["data"]["__schema"]["queryType"]["name"]) == (200, "Query")


def test_apq_registration_needs_the_right_hash_and_a_small_document(live: LiveStack) -> None:
    query = "query Q { providers { name } }"
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    status, _, body = _post(live.url, {"query": query + " ", "extensions": apq})
    assert status == 400
    assert body["errors"][0]["message"] == "provided sha does not match query"
    big = "query Big { providers { name } }" + " " * 300
    big_apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(big)}}
    assert _post(live.url, {"query": big, "extensions": big_apq})[0] == 200  # runs...
    status, _, body = _post(live.url, {"extensions": big_apq})  # ...but is not kept
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    status, _, body = _post(
        live.url, {"extensions": apq}, accept="application/graphql-response+json"
    )
    assert status == 404  # a request error under graphql-response+json
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"


def test_trusted_documents_by_id_and_hash(live: LiveStack) -> None:
    for body in (
        {"documentId": f"sha256:{sha256(PROVIDERS)}"},
        {"documentId": sha256(PROVIDERS)},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(PROVIDERS)}}},
    ):
        status, _, answer = _post(live.url, body)
        assert status == 200, answer
        assert answer["data"]["providers"]
    status, _, answer = _post(live.url, {"documentId": "sha256:" + "0" * 64})
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    status, _, answer = _post(live.url, {"documentId": sha256(PROVIDERS), "query": PROVIDERS})
    assert (status, answer["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST")


@pytest.mark.server
def test_require_mode_refuses_arbitrary_documents_except_for_documents_any(
    manifest: Path,
) -> None:
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        "GATEWAY_PERSISTED_DOCUMENTS_MODE": "require",
    }
    with LiveStack(env=env) as live:
        status, _, body = _post(live.url, {"query": PAGE})
        assert status == 400
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"
        apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(PAGE)}}
        status, _, body = _post(live.url, {"query": PAGE, "extensions": apq})
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"
        assert _post(live.url, {"query": PAGE}, key="any-key")[0] == 200
        assert _post(live.url, {"query": PROVIDERS})[0] == 200  # a trusted one, by content
        assert _post(live.url, {"documentId": sha256(PROVIDERS)})[0] == 200


@pytest.mark.server
def test_apq_off_answers_not_supported() -> None:
    with LiveStack(env={"GATEWAY_PERSISTED_DOCUMENTS_MODE": "off"}) as live:
        apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(PAGE)}}
        status, _, body = _post(live.url, {"extensions": apq}, key=None)
        assert status == 400
        assert body["errors"][0] == {
            "message": "PersistedQueryNotSupported",
            "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        }


@pytest.mark.server
def test_rate_limits_per_key_and_cost_budget_in_one_process() -> None:
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_RATE_LIMIT": "100/minute",
        "GATEWAY_COST_BUDGET": "30/hour",
    }
    with LiveStack(env=env) as live:
        statuses = [_post(live.url, {"query": PROVIDERS}, key="slow-key")[0] for _ in range(3)]
        assert statuses == [200, 200, 429]
        # ops: the page costs more than the budget of 30; charged after it is answered.
        assert (
            _post(live.url, {"query": "{ sessions(first: 40) { edges { node { id } } } }"})[0]
            == 200
        )
        status, headers, body = _post(live.url, {"query": PROVIDERS})
        assert (status, body["errors"][0]["extensions"]["code"]) == (429, "RATE_LIMITED")
        assert "query cost" in body["errors"][0]["message"]
        assert int(headers["retry-after"]) >= 1


def test_bad_settings_and_manifests_stop_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_RATE_LIMIT"):
        Settings.from_environ({"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_RATE_LIMIT": "often"})
    keys = [{"name": "k", "key": "x", "rateLimit": "fast"}]
    with pytest.raises(ConfigError, match=r"\[0\]\.rateLimit"):
        create_app(Settings.from_environ({"GATEWAY_API_KEYS": json.dumps(keys)}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({f"sha256:{sha256('{ nope }')}": "{ nope }"}))
    with pytest.raises(ConfigError, match=f"document '{sha256('{ nope }')}' is invalid"):
        load_manifest(str(bad), schema._schema)
    bad.write_text(json.dumps({f"sha256:{'0' * 64}": PROVIDERS}))
    with pytest.raises(ConfigError, match="not the SHA-256 of its document"):
        load_manifest(str(bad), schema._schema)


def test_tags_come_from_global_ids_in_the_answer() -> None:
    from app.core import ids

    session = ids.encode(ids.SESSION, Provider.PRIVX, "s1")
    user = ids.encode(ids.USER, Provider.PRIVX, "u1")
    tags = tags_of({"a": [{"id": session, "user": {"id": user}}, {"id": "not-global"}]})
    assert tags == {"S:PRIVX:s1", "U:PRIVX:u1", "P:PRIVX"}
    assert revoked_tags(Revoked(Provider.PRIVX, ("s1",))) == {"S:PRIVX:s1"}
    assert revoked_tags(Revoked(Provider.PRIVX, user_id="u1")) == {"U:PRIVX:u1", "P:PRIVX"}
    scoped = Principal("a", users=frozenset({(Provider.PRIVX, "u1")}))
    assert scope_of(scoped, []) != scope_of(
        Principal("b", scopes=frozenset({"sessions:read:all"})), []
    )
    assert key_of("all", "{a}", {"x": 1, "y": 2}, None) == key_of(
        "all", "{a}", {"y": 2, "x": 1}, None
    )


def _broken_shared(metrics: Metrics) -> tuple[Shared, FakeServer]:
    server = FakeServer()
    shared = Shared(None, metrics)
    shared.client = FakeAsyncRedis(server=server)
    shared.url = "redis://fake:6379/0"
    server.connected = False
    return shared, server


async def test_a_redis_outage_is_logged_once_and_the_cache_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    shared, server = _broken_shared(metrics)
    cache = ResponseCache(shared, 60, metrics)
    with caplog.at_level(logging.WARNING, logger="session_gateway.shared"):
        assert await cache.get("k") is None
        shared._retry_at = 0  # past the pause: try again, fail again
        assert await cache.get("k") is None
        await cache.put("k", b"{}", {"S:PRIVX:s1"})
        server.connected = True
        shared._retry_at = 0
        await cache.put("k", b'{"data": {}}', {"S:PRIVX:s1"})
        assert await cache.get("k") == b'{"data": {}}'
        await cache.purge(Revoked(Provider.PRIVX, ("s1",)))
        assert await cache.get("k") is None
    outage_logs = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage_logs) == 1
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert metrics.redis_errors.labels("response_cache")._value.get() == 2
    assert metrics.response_cache.labels("skipped")._value.get() == 2
    assert shared.status() == {"configured": True, "up": True}


async def test_rate_limiting_fails_open_or_closed_as_configured() -> None:
    metrics = Metrics()
    shared, _ = _broken_shared(metrics)
    item = parse_limit("1/minute", "test")
    fail_open = RateLimiter(shared, item, None, fail_open=True, metrics=metrics)
    who = Principal("p")
    # Memory storage here (no pool), but Shared says Redis is down: the policy decides.
    shared.failed("rate_limit", ConnectionError("down"))
    assert await fail_open.admit(who, "principal:p") is None
    fail_closed = RateLimiter(shared, item, None, fail_open=False, metrics=metrics)
    refusal = await fail_closed.admit(who, "principal:p")
    assert refusal is not None
    assert (refusal.status, refusal.code) == (503, "RATE_LIMIT_UNAVAILABLE")
    assert metrics.rate_limit_skipped._value.get() == 1


@pytest.mark.server
def test_an_unreachable_redis_fails_closed_when_configured_so() -> None:
    port = free_port()  # a port nothing listens on
    env = {
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "GATEWAY_RATE_LIMIT": "100/minute",
        "GATEWAY_RATE_LIMIT_FAIL_OPEN": "false",
        "GATEWAY_RESPONSE_CACHE_TTL": "30",
    }
    with LiveStack(env=env) as live:
        status, headers, body = _post(live.url, {"query": PROVIDERS}, key=None)
        assert (status, headers["retry-after"]) == (503, "1")
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMIT_UNAVAILABLE"
        status, _, raw = get(live.url.replace("/graphql", "/readyz"))
        ready = json.loads(raw)
        assert status == 503
        assert ready["redis"]["up"] is False
        assert ready["redis"]["failOpen"] is False
        assert str(port) not in raw.decode()  # the URL (and any password in it) is not shown


async def test_tag_sets_hold_only_live_entries_and_local_bytes_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared, server = _broken_shared(Metrics())
    server.connected = True
    cache = ResponseCache(shared, 60)
    assert shared.client is not None
    await shared.client.zadd("gateway:rct:P:PRIVX", {"long-gone": 1.0})  # expired in 1970
    await cache.put("k1", b'{"data": 1}', {"P:PRIVX"})
    members = await shared.client.zrange("gateway:rct:P:PRIVX", 0, -1)
    assert members == [b"k1"]
    monkeypatch.setattr("app.state.response_cache.MAX_LOCAL_BYTES", 25)
    local = ResponseCache(Shared(None), 60)
    for name in ("a", "b", "c"):
        await local.put(name, b'{"data": "0123456789"}', {f"S:PRIVX:{name}"})  # 22 bytes each
    assert [await local.get(n) is not None for n in ("a", "b", "c")] == [False, False, True]
    assert set(local._tagged) == {"S:PRIVX:c"}
    assert await local.get("too-big") is None
    await local.put("too-big", b"x" * (1024 * 1024 + 1), set())
    assert await local.get("too-big") is None


@pytest.mark.server
def test_jwt_callers_are_limited_per_subject(tmp_path: Path) -> None:
    key = SigningKey("k1")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(jwks(key))
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_JWKS_FILE": str(jwks_file),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_RATE_LIMIT": "2/hour",
    }

    def status(url: str, token: str) -> int:
        request = urllib.request.Request(
            url,
            json.dumps({"query": PROVIDERS}).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                code: int = response.status
        except urllib.error.HTTPError as error:
            code = error.code
        return code

    with LiveStack(env=env) as live:
        # Two tokens of one subject share its limit; another subject has its own.
        first, second = key.token(sub="alice", jti="1"), key.token(sub="alice", jti="2")
        statuses = [status(live.url, t) for t in (first, second, first)]
        assert statuses == [200, 200, 429]
        assert status(live.url, key.token(sub="bob")) == 200


@pytest.mark.server
def test_anonymous_callers_run_apq_documents_but_do_not_register_them() -> None:
    query = "query Anon { providers { provider } }"
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    with LiveStack() as live:  # GATEWAY_ALLOW_ANONYMOUS=true
        status, _, body = _post(live.url, {"query": query, "extensions": apq}, key=None)
        assert status == 200
        assert body["data"]["providers"]
        _, _, body = _post(live.url, {"extensions": apq}, key=None)
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_a_hit_is_counted_and_logged_as_an_answered_operation(live: LiveStack) -> None:
    query = {"query": "query CountedHit { providers { provider } }", "operationName": "CountedHit"}
    _post(live.url, query)
    assert _post(live.url, query)[1]["x-cache"] == "HIT"
    base = live.url.rsplit("/", 1)[0]
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        exposition = response.read().decode()
    answered = [
        line
        for line in exposition.splitlines()
        if line.startswith("gateway_graphql_requests_total{") and 'operation="CountedHit"' in line
    ]
    # One answered by execution (the MISS), one from the cache: both are requests users made.
    assert len(answered) == 1
    assert answered[0].endswith(" 2.0"), answered


def test_a_key_and_a_token_subject_of_one_name_are_two_callers() -> None:
    key = Principal(name="alice")
    token = Principal(name="alice", source="jwt")
    anonymous = Principal(name="anonymous", anonymous=True)
    assert key.caller(("10.0.0.1", 5000)) != token.caller(("10.0.0.1", 5000))
    assert anonymous.caller(("10.0.0.1", 5000)) == "address:10.0.0.1"
