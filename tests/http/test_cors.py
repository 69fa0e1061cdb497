"""CORS (app/http/cors.py): preflights answered before authentication, origins exact, credentials
only for listed origins; `*` is for anonymous demos."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.core.errors import ConfigError
from app.settings import Settings
from tests.support.digest import sha256
from tests.support.http_calls import exchange
from tests.support.live import LiveStack

pytestmark = pytest.mark.server

APP = "http://127.0.0.1:5173"
OTHER = "https://evil.example"
KEY = "cors-test-key"
QUERY = json.dumps({"query": "{ providers { provider } }"}).encode()


def _preflight(
    url: str, origin: str, headers: str = "content-type, x-api-key"
) -> tuple[int, dict[str, str], bytes]:
    return exchange(
        url,
        "OPTIONS",
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.fixture(scope="module")
def listed() -> Iterator[LiveStack]:
    keys = [{"name": "app", "key_sha256": sha256(KEY)}]
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(keys),
        "GATEWAY_CORS_ORIGINS": f"{APP}, https://admin.example",
        "GATEWAY_MAX_BODY_BYTES": "1024",
    }
    with LiveStack(env=env) as live:
        yield live


def test_a_preflight_is_answered_before_authentication(listed: LiveStack) -> None:
    status, headers, body = _preflight(
        listed.url, APP, "content-type, x-api-key, authorization, x-request-id, accept"
    )

    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == APP
    assert headers["access-control-allow-credentials"] == "true"
    assert set(headers["access-control-allow-methods"].split(", ")) >= {"GET", "POST"}
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert allowed >= {"content-type", "x-api-key", "authorization", "x-request-id", "accept"}
    assert "vary" in headers


def test_a_preflight_allows_last_event_id_and_credential_headers() -> None:
    env = {
        "GATEWAY_CORS_ORIGINS": APP,
        "GATEWAY_HYPERID_COOKIE": "",
        "GATEWAY_HYPERID_FORWARD_HEADER": "X-HyperID-Cookie",
    }
    with LiveStack(env=env) as live:
        status, headers, _ = _preflight(
            live.url, APP, "content-type, x-api-key, last-event-id, x-hyperid-cookie"
        )

    assert status == 204
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert allowed >= {"last-event-id", "x-hyperid-cookie"}


def test_a_preflight_allows_the_kratos_session_header_when_whoami_is_asked() -> None:
    env = {
        "GATEWAY_CORS_ORIGINS": APP,
        "GATEWAY_KRATOS_PUBLIC_URL": "http://127.0.0.1:9/",
        "GATEWAY_KRATOS_SESSION_HEADER": "X-Session-Token",
    }
    with LiveStack(env=env) as live:
        status, headers, _ = _preflight(live.url, APP, "content-type, x-session-token")

    assert status == 204
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert "x-session-token" in allowed


def test_an_unlisted_origin_or_header_is_refused(listed: LiveStack) -> None:
    assert _preflight(listed.url, OTHER)[0] == 400
    assert _preflight(listed.url, APP, "x-other")[0] == 400
    # A near miss is another origin: exact match only.
    assert _preflight(listed.url, APP + "/")[0] == 400
    assert _preflight(listed.url, "http://127.0.0.1:5174")[0] == 400


def test_responses_carry_the_origin_and_expose_the_request_id(listed: LiveStack) -> None:
    headers = {"Origin": APP, "Content-Type": "application/json", "X-API-Key": KEY}
    status, answer, _ = exchange(listed.url, "POST", headers, QUERY)

    assert status == 200
    assert answer["access-control-allow-origin"] == APP
    assert answer["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in answer["access-control-expose-headers"].split(",")}
    assert "x-request-id" in exposed
    assert answer["x-request-id"]


def test_refusals_carry_cors_headers_so_the_page_can_read_them(listed: LiveStack) -> None:
    # A 401 or 413 without them would reach the page as an opaque network error.
    unauthenticated = exchange(
        listed.url, "POST", {"Origin": APP, "Content-Type": "application/json"}, QUERY
    )
    too_large = exchange(
        listed.url,
        "POST",
        {"Origin": APP, "Content-Type": "application/json", "X-API-Key": KEY},
        b" " * 2048,
    )

    for status, answer, _ in (unauthenticated, too_large):
        assert answer["access-control-allow-origin"] == APP, status
    assert (unauthenticated[0], too_large[0]) == (401, 413)


def test_an_unlisted_origin_gets_no_cors_headers(listed: LiveStack) -> None:
    headers = {"Origin": OTHER, "Content-Type": "application/json", "X-API-Key": KEY}
    status, answer, _ = exchange(listed.url, "POST", headers, QUERY)

    assert status == 200  # the browser, not the gateway, withholds the answer from the page
    assert "access-control-allow-origin" not in answer


def test_any_origin_never_allows_credentials() -> None:
    with LiveStack(env={"GATEWAY_CORS_ORIGINS": "*"}) as live:
        status, headers, _ = _preflight(live.url, OTHER)
        posted = exchange(
            live.url, "POST", {"Origin": OTHER, "Content-Type": "application/json"}, QUERY
        )

    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers
    assert posted[1]["access-control-allow-origin"] == "*"


def test_no_origins_no_cors() -> None:
    with LiveStack() as live:
        status, headers, _ = _preflight(live.url, APP)

    assert status == 405
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://app.example/", "is not an origin"),
        ("app.example", "is not an origin"),
        ("*, https://app.example", "give it alone"),
    ],
)
def test_bad_origins_are_refused_at_start(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_environ({"GATEWAY_CORS_ORIGINS": value})


def test_any_origin_with_caller_authentication_is_refused_at_start() -> None:
    keys = json.dumps([{"name": "a", "key_sha256": "0" * 64}])
    with pytest.raises(ConfigError, match="anonymous demos only"):
        Settings.from_environ({"GATEWAY_CORS_ORIGINS": "*", "GATEWAY_API_KEYS": keys})


def test_origins_are_compared_in_lower_case() -> None:
    settings = Settings.from_environ({"GATEWAY_CORS_ORIGINS": "HTTPS://App.Example:8443"})
    assert settings.cors_origins == ("https://app.example:8443",)
