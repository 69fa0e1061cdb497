"""Who may see which sessions: caller authentication, scoping, upstream credentials, limits."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from starlette.types import Message, Receive, Scope, Send

import app.auth.jwt
from app.core import ids
from app.core.records import Provider
from app.http.auth import AuthMiddleware
from app.main import client_session
from app.mocks import generate
from app.mocks.privx.server import TOKEN_PATH
from app.settings import Settings
from tests.support.digest import sha256
from tests.support.jwks import AUDIENCE, ISSUER, SigningKey, jwks
from tests.support.live import LiveStack, post, send

pytestmark = pytest.mark.server

LIST = "{ sessions(first: 100) { totalCount nodes { id provider user { nativeId } } } }"
ADMIN_KEY = "admin-key-0123456789"
ALICE_KEY = "alice-key-0123456789"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {"old": SigningKey("k1"), "new": SigningKey("k2")}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, SigningKey]
) -> Iterator[LiveStack]:
    folder = tmp_path_factory.mktemp("auth")
    jwks_file = folder / "jwks.json"
    jwks_file.write_text(jwks(keys["old"]))
    key_file = folder / "keys.json"
    data = generate()  # one data set: mock ids depend on the time they are made
    privx_user = data.privx[0]["user_id"]
    key_file.write_text(
        json.dumps(
            [
                {
                    "name": "admin",
                    "key_sha256": sha256(ADMIN_KEY),
                    "scopes": ["sessions:read:all", "sessions:revoke:all"],
                },
                {
                    "name": "alice",
                    "key_sha256": sha256(ALICE_KEY),
                    "users": [{"provider": "PRIVX", "id": privx_user}],
                },
            ]
        )
    )
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": str(key_file),
        "GATEWAY_JWKS_FILE": str(jwks_file),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_JWT_USER_CLAIMS": json.dumps({"ZITADEL": "sub", "PRIVX": "privx_user"}),
        "GATEWAY_MAX_COST": "20000",
        "GATEWAY_INTROSPECTION": "false",
    }
    with LiveStack(data=data, env=env) as live:
        live.jwks_file = jwks_file  # type: ignore[attr-defined]
        yield live


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def privx_user(live: LiveStack) -> str:
    return str(live.mocks.data.privx[0]["user_id"])


def test_requests_without_credentials_get_401(secured: LiveStack) -> None:
    status, body = send(secured.url, LIST)

    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "X-API-Key" in body["errors"][0]["message"]
    assert send(secured.url, LIST, headers=headers("wrong"))[0] == 401


def test_serve_refuses_to_start_without_caller_authentication() -> None:
    from app.core.errors import ConfigError
    from app.main import create_app
    from app.settings import Settings

    with pytest.raises(ConfigError, match="GATEWAY_ALLOW_ANONYMOUS=true"):
        create_app(Settings.from_environ({}))


def test_admin_key_sees_everything_and_scoped_key_only_its_user(secured: LiveStack) -> None:
    everything = post(secured.url, LIST, headers=headers(ADMIN_KEY))["data"]["sessions"]
    own = post(secured.url, LIST, headers=headers(ALICE_KEY))["data"]["sessions"]

    mine = [s for s in secured.mocks.data.privx if s["user_id"] == privx_user(secured)]
    assert own["totalCount"] == len(mine) < everything["totalCount"]
    assert {n["user"]["nativeId"] for n in own["nodes"]} == {privx_user(secured)}


def test_scoped_caller_never_gets_another_users_session(secured: LiveStack) -> None:
    data = secured.mocks.data
    other = next(s for s in data.privx if s["user_id"] != privx_user(secured))
    other_id = ids.encode(ids.SESSION, Provider.PRIVX, other["id"])
    zitadel_id = ids.encode(ids.SESSION, Provider.ZITADEL, data.zitadel[3]["id"])
    other_user = ids.encode(ids.USER, Provider.PRIVX, other["user_id"])
    alice = headers(ALICE_KEY)

    session, node = (
        "query ($i: ID!) { session(id: $i) { id } }",
        "query ($i: ID!) { node(id: $i) { id } }",
    )
    by_id = post(secured.url, session, {"i": other_id}, alice)
    by_node = post(secured.url, node, {"i": zitadel_id}, alice)
    user_node = post(secured.url, node, {"i": other_user}, alice)
    by_filter = post(
        secured.url,
        "query ($f: SessionFilterInput) { sessions(filter: $f) { totalCount } }",
        {"f": {"userIds": [other_user], "ids": [other_id]}},
        alice,
    )
    revoke = post(
        secured.url,
        "mutation ($i: ID!) { revokeSession(id: $i) { __typename } }",
        {"i": other_id},
        alice,
    )

    assert by_id == {"data": {"session": None}}  # exactly like a missing session
    assert by_node == {"data": {"node": None}}
    assert user_node == {"data": {"node": None}}
    assert by_filter == {"data": {"sessions": {"totalCount": 0}}}
    assert revoke["data"]["revokeSession"]["__typename"] == "SessionNotFound"
    nested = post(
        secured.url,
        "{ sessions(first: 100) { nodes { parent { user { nativeId } } "
        "children { user { nativeId } } } } }",
        headers=alice,
    )
    users = {
        n["user"]["nativeId"]
        for s in nested["data"]["sessions"]["nodes"]
        for n in [s["parent"], *(s["children"] or [])]
        if n
    }
    assert users <= {privx_user(secured)}


def test_jwt_callers_are_scoped_by_mapped_claims(
    secured: LiveStack, keys: dict[str, SigningKey]
) -> None:
    zitadel_user = next(s for s in secured.mocks.data.zitadel if "factors" in s)["factors"]["user"]
    token = keys["old"].token(sub=zitadel_user["id"])

    result = post(secured.url, LIST, headers={"Authorization": f"Bearer {token}"})

    nodes = result["data"]["sessions"]["nodes"]
    assert nodes
    assert {n["provider"] for n in nodes} == {"ZITADEL"}
    assert {n["user"]["nativeId"] for n in nodes} == {zitadel_user["id"]}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"lifetime": -120}, "The token has expired."),
        ({"iss": "https://evil.example"}, "The token's issuer is not accepted."),
        ({"aud": "someone-else"}, "The token's audience is not accepted."),
    ],
)
def test_bad_jwts_get_401_saying_why(
    secured: LiveStack, keys: dict[str, SigningKey], claims: dict[str, Any], message: str
) -> None:
    token = keys["old"].token(sub="x", **claims)

    status, body = send(secured.url, LIST, headers={"Authorization": f"Bearer {token}"})

    assert status == 401
    assert body["errors"][0]["message"] == message


def test_foreign_signing_key_is_refused_and_rotated_key_accepted(
    secured: LiveStack, keys: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.auth.jwt, "REFRESH_AT_MOST_EVERY", 0.0)
    token = keys["new"].token(sub="x", scope="sessions:read:all")
    bearer = {"Authorization": f"Bearer {token}"}
    assert send(secured.url, LIST, headers=bearer)[0] == 401  # k2 not published yet

    jwks_file: Path = secured.jwks_file  # type: ignore[attr-defined]
    jwks_file.write_text(jwks(keys["old"], keys["new"]))  # the IdP rotates in k2

    status, body = send(secured.url, LIST, headers=bearer)
    assert status == 200
    assert body["data"]["sessions"]["totalCount"] > 100  # scope sessions:read:all


def test_cost_limit_and_introspection_switch(secured: LiveStack) -> None:
    costly = (
        "{ sessions(first: 100) { nodes { id authorizations(first: 100) "
        "{ edges { node { id } } } } } }"
    )
    result = post(secured.url, costly, headers=headers(ADMIN_KEY))
    assert result["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "exceeds the maximum of 20000" in result["errors"][0]["message"]

    introspection = post(secured.url, "{ __schema { types { name } } }", headers=headers(ADMIN_KEY))
    assert "introspection" in introspection["errors"][0]["message"].lower()


def test_privx_oauth_token_is_fetched_once_under_50_concurrent_requests() -> None:
    env = {
        "GATEWAY_PRIVX_TOKEN": "",
        "GATEWAY_PRIVX_OAUTH_CLIENT_ID": "privx-external",
        "GATEWAY_PRIVX_OAUTH_CLIENT_SECRET": "privx-oauth-demo-secret",
        "GATEWAY_PRIVX_API_CLIENT_ID": "gateway-api-client",
        "GATEWAY_PRIVX_API_CLIENT_SECRET": "privx-api-demo-secret",
        # One caller (this test, anonymous on loopback) with 50 requests in flight.
        "GATEWAY_MAX_IN_FLIGHT": "64",
        "GATEWAY_MAX_IN_FLIGHT_PER_CALLER": "64",
    }
    query = "{ sessions(first: 5, filter: {providers: [PRIVX]}) { totalCount } }"
    with LiveStack(env=env) as live, ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: post(live.url, query), range(50)))
        token_calls = [c for c in live.calls("PRIVX") if c.path == TOKEN_PATH]

    assert all("errors" not in r for r in results), [r for r in results if "errors" in r][:1]
    assert len(token_calls) == 1


def test_forwarded_hyperid_cookie() -> None:
    env = {"GATEWAY_HYPERID_COOKIE": "", "GATEWAY_HYPERID_FORWARD_HEADER": "X-HyperID-Cookie"}
    query = "{ sessions(first: 5, filter: {providers: [HYPERID]}) { totalCount missingProviders } }"
    with LiveStack(env=env) as live:
        cookie = f"ss-id={live.mocks.credentials.hyperid_session}"
        forwarded = post(live.url, query, headers={"X-HyperID-Cookie": cookie})
        missing = post(live.url, query)

    assert forwarded["data"]["sessions"]["totalCount"] == len(live.mocks.data.hyperid_sessions)
    assert missing["data"]["sessions"]["missingProviders"] == ["HYPERID"]
    assert missing["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAUTHORIZED"
    assert "X-HyperID-Cookie" in missing["errors"][0]["message"]


def test_no_secret_reaches_responses_or_logs(
    secured: LiveStack, keys: dict[str, SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    token = keys["old"].token(sub="nobody", lifetime=-100)
    secrets = [
        ADMIN_KEY,
        ALICE_KEY,
        token,
        "test-secret",
        *(
            getattr(secured.mocks.credentials, name)
            for name in ("privx_token", "prefactor_token", "zitadel_token", "hyperid_session")
        ),
    ]
    with caplog.at_level(logging.DEBUG):
        bodies = [
            send(secured.url, LIST, headers=headers(ADMIN_KEY)),
            send(secured.url, LIST, headers=headers(ADMIN_KEY + "x")),
            send(secured.url, LIST, headers={"Authorization": f"Bearer {token}"}),
            send(
                secured.url, '{ sessions(after: "x") { totalCount } }', headers=headers(ALICE_KEY)
            ),
        ]
    text = json.dumps(bodies) + caplog.text
    assert not [s for s in secrets if s in text]


def test_jwks_from_a_url_is_fetched_and_cached(keys: dict[str, SigningKey]) -> None:
    served: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            body = jwks(keys["old"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_JWKS_URL": f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json",
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
    }
    bearer = {"Authorization": f"Bearer {keys['old'].token(sub='x', scope='sessions:read:all')}"}
    try:
        with LiveStack(env=env) as live:
            results = [send(live.url, LIST, headers=bearer)[0] for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()

    assert results == [200, 200, 200]
    assert served == ["/.well-known/jwks.json"]  # fetched once, then cached


async def test_only_graphql_websockets_open_and_authenticate_at_init() -> None:
    # /graphql sockets reach the view, which authenticates at connection_init
    # (tests/live/test_transports.py checks a socket without credentials gets nothing).
    reached: list[str] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    for path in ("/graphiql", "/graphql"):
        scope: Scope = {"type": "websocket", "path": path, "headers": [], "state": {}}
        await AuthMiddleware(app)(scope, receive, send)

    assert reached == ["/graphql"]
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_api_key_bound_to_a_blank_user_id_is_refused_at_start() -> None:
    from app.auth.apikeys import ApiKeyStore
    from app.core.errors import ConfigError

    keys = '[{"name": "x", "key": "k", "users": [{"provider": "ZITADEL", "id": " "}]}]'
    with pytest.raises(ConfigError, match="empty id"):
        ApiKeyStore.load(keys)


def test_scoped_callers_are_checked_whatever_an_upstream_filters() -> None:
    from app.auth.principal import Principal
    from app.listing.filter import Part, SessionFilter

    principal = Principal(name="alice", users=frozenset({(Provider.ZITADEL, "u1")}))
    restricted = principal.restrict(SessionFilter())
    # Even where the upstream is told to filter by user, the gateway checks again.
    assert restricted.residual(frozenset({Part.USERS})) is not None


def test_revoke_all_without_read_all_does_not_reveal_the_session(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps([{"name": "ops", "key": "revoker-key", "scopes": ["sessions:revoke:all"]}])
    )
    with LiveStack(env={"GATEWAY_ALLOW_ANONYMOUS": "false", "GATEWAY_API_KEYS": str(keys)}) as live:
        target = ids.encode(ids.SESSION, Provider.PRIVX, live.mocks.data.privx[1]["id"])
        result = post(
            live.url,
            "mutation ($i: ID!) { revokeSession(id: $i) "
            "{ __typename ... on SessionRevoked { session { remoteAddress } } } }",
            {"i": target},
            headers("revoker-key"),
        )
    assert result["data"]["revokeSession"] == {"__typename": "SessionRevoked", "session": None}


def test_encoded_query_parameter_does_not_skip_authentication(secured: LiveStack) -> None:
    url = secured.url + "?%71uery=%7Bproviders%7Bname%7D%7D"
    request = urllib.request.Request(url, headers={"Accept": "text/html, application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    caught.value.close()
    assert caught.value.code == 401


def test_crafted_jwt_headers_get_401_not_500(
    secured: LiveStack, keys: dict[str, SigningKey]
) -> None:
    good = keys["old"].token(sub="x")
    _, payload, signature = good.split(".")
    odd_kid = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":5}').decode().rstrip("=")
    tokens = [f"{odd_kid}.{payload}.{signature}", "a.b.c", "not-a-jwt"]

    for token in tokens:
        status, body = send(secured.url, LIST, headers={"Authorization": f"Bearer {token}"})
        assert status == 401, (token, body)


def test_a_long_jwt_algorithm_is_echoed_as_a_short_prefix(
    secured: LiveStack, keys: dict[str, SigningKey]
) -> None:
    _, payload, signature = keys["old"].token(sub="x").split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "A" * 10_000}).encode()).decode()
    token = f"{header.rstrip('=')}.{payload}.{signature}"

    status, body = send(secured.url, LIST, headers={"Authorization": f"Bearer {token}"})

    assert status == 401
    assert body["errors"][0]["message"] == f"The token's algorithm '{'A' * 64}…' is not accepted."


@pytest.mark.parametrize(
    ("header", "credentials"),
    [
        ("X-API-Key", [ADMIN_KEY, ALICE_KEY]),
        ("Authorization", ["Bearer not-a-jwt", f"Bearer {ADMIN_KEY}"]),
    ],
)
def test_a_repeated_credential_header_is_400_before_authentication(
    secured: LiveStack, header: str, credentials: list[str]
) -> None:
    # Two credentials: whichever header came first would decide who the caller is.
    host, port = urllib.parse.urlsplit(secured.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"query": LIST}).encode()
    connection.putrequest("POST", "/graphql")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    for credential in credentials:
        connection.putheader(header, credential)
    connection.endheaders(body)
    response = connection.getresponse()
    status, got = response.status, json.loads(response.read())
    connection.close()

    assert status == 400
    assert got["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert got["errors"][0]["message"] == (
        f"The {header} header was sent more than once; send one credential."
    )
    assert not [c for c in credentials if c in json.dumps(got)]


@pytest.mark.parametrize(
    "authorization", ["garbage", "Bearer not-a-jwt", f"Bearer {ADMIN_KEY}", "Basic YTpi"]
)
def test_an_api_key_with_an_authorization_header_is_400(
    secured: LiveStack, authorization: str
) -> None:
    # Two credentials of different kinds: neither may silently win over the other.
    sent = {"X-API-Key": ADMIN_KEY, "Authorization": authorization}

    status, got = send(secured.url, LIST, headers=sent)

    assert status == 400
    assert got["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert got["errors"][0]["message"] == (
        "Both X-API-Key and Authorization were sent; send one credential."
    )
    assert ADMIN_KEY not in json.dumps(got)


def test_an_upstream_authorization_header_is_no_second_credential() -> None:
    keys = [{"name": "app", "key": ADMIN_KEY, "scopes": ["sessions:read:all"]}]
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(keys),
        "GATEWAY_ZITADEL_TOKEN": "",
        "GATEWAY_ZITADEL_FORWARD_HEADER": "Authorization",
    }
    query = "{ sessions(first: 1, filter: {providers: [ZITADEL]}) { totalCount } }"
    with LiveStack(env=env) as live:
        token = f"Bearer {live.mocks.credentials.zitadel_token}"
        status, got = send(
            live.url, query, headers={"X-API-Key": ADMIN_KEY, "Authorization": token}
        )

    assert status == 200, got
    assert got["data"]["sessions"]["totalCount"] > 0


async def test_a_cookie_set_by_an_upstream_is_not_sent_on_later_calls() -> None:
    # One client session serves every caller: a cookie jar would carry one caller's upstream
    # cookie into another caller's calls.
    seen: list[str | None] = []

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.json_response({})
        response.set_cookie("ss-id", "someone-elses-session")
        return response

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/set", set_cookie)
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with client_session(Settings.from_environ({})) as session:
            for path in ("/set", "/echo"):
                async with session.get(f"http://localhost:{port}{path}") as response:
                    assert response.status == 200
    finally:
        await runner.cleanup()
    assert seen == [None]
