"""GraphQL over HTTP details: the graphql-http audits, 405 for a mutation over GET, and the
Accept header honoured by every error the gateway writes, whichever layer writes it."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from app.http.media import prefers_event_stream
from tests.support.digest import sha256
from tests.support.http_calls import exchange
from tests.support.live import LiveStack
from tests.support.paths import NODE

pytestmark = pytest.mark.server

CLIENTS = NODE / "clients"
KEY = "over-http-key"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def test_the_graphql_http_audits_pass_without_warnings() -> None:
    with LiveStack() as live:
        run = subprocess.run(
            ["node", str(CLIENTS / "audit.mjs"), live.url],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    report = json.loads(run.stdout)
    assert report["failed"] == []
    assert report["counts"]["ok"] >= 50  # the audits ran: graphql-http 1.23 has 61


@pytest.fixture(scope="module")
def keyed() -> Iterator[LiveStack]:
    keys = [{"name": "app", "key_sha256": sha256(KEY)}]
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(keys),
        "GATEWAY_MAX_BODY_BYTES": "1024",
    }
    with LiveStack(env=env) as live:
        yield live


def test_a_mutation_over_get_is_405_with_allow(keyed: LiveStack) -> None:
    query = urlencode({"query": 'mutation { revokeSession(id: "x") { __typename } }'})
    status, headers, body = exchange(
        f"{keyed.url}?{query}", "GET", {"X-API-Key": KEY, "Accept": GRAPHQL_RESPONSE}
    )

    assert status == 405
    assert headers["allow"] == "POST"
    assert headers["content-type"] == GRAPHQL_RESPONSE
    error = json.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in error["message"]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
def test_a_subscription_posted_as_json_is_400_naming_transports(
    keyed: LiveStack, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"query": "subscription { sessionEvents { kind } }"}).encode()
    sent = {"X-API-Key": KEY, "Content-Type": "application/json", "Accept": accept}

    with caplog.at_level(logging.WARNING):
        answers = [exchange(keyed.url, "POST", sent, body) for _ in range(2)]  # lean path too

    for status, headers, raw in answers:
        assert (status, headers["content-type"]) == (400, accept)
        error = json.loads(raw)["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "text/event-stream" in error["message"]
        assert "graphql-transport-ws" in error["message"]
    assert not [r for r in caplog.records if r.name.startswith("session_gateway")]


def test_a_subscription_over_get_is_400_too(keyed: LiveStack) -> None:
    query = urlencode({"query": "subscription { sessionEvents { kind } }"})
    status, _, raw = exchange(f"{keyed.url}?{query}", "GET", {"X-API-Key": KEY})

    assert status == 400
    assert "text/event-stream" in json.loads(raw)["errors"][0]["message"]


def test_a_query_over_get_still_runs(keyed: LiveStack) -> None:
    query = urlencode({"query": "{ providers { provider } }"})
    status, _, body = exchange(f"{keyed.url}?{query}", "GET", {"X-API-Key": KEY})
    assert status == 200
    assert json.loads(body)["data"]["providers"]


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        pytest.param({}, b'{"query": "{ __typename }"}', 401, "UNAUTHENTICATED", id="auth"),
        pytest.param({"X-API-Key": KEY}, b" " * 2048, 413, "PAYLOAD_TOO_LARGE", id="body-limit"),
        pytest.param(
            {"X-API-Key": KEY, "x-api-key": KEY},
            b'{"query": "{ __typename }"}',
            400,
            "BAD_REQUEST",
            id="headers",
        ),
        pytest.param({"X-API-Key": KEY}, b"[1]", 400, "BAD_REQUEST", id="view"),
        pytest.param({"X-API-Key": KEY}, b'{"operationName": 5}', 400, "BAD_REQUEST", id="shape"),
    ],
)
def test_every_error_honours_accept(
    keyed: LiveStack, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    for accept, media_type in (
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
    ):
        sent = {"Content-Type": "application/json", "Accept": accept, **headers}
        got, answer, raw = exchange(keyed.url, "POST", sent, body)
        assert (got, answer["content-type"]) == (status, media_type), raw
        assert json.loads(raw)["errors"][0]["extensions"]["code"] == code


def test_an_unacceptable_accept_is_answered_in_json(keyed: LiveStack) -> None:
    sent = {"Content-Type": "application/json", "Accept": "text/csv"}
    status, answer, _ = exchange(keyed.url, "POST", sent, b'{"query": "{ __typename }"}')
    assert (status, answer["content-type"]) == (401, "application/json")


@pytest.mark.parametrize(
    ("accept", "stream"),
    [
        ("text/event-stream", True),  # graphql-sse's client
        ("text/event-stream, application/json;q=0.5", True),
        # urql lists the stream after the JSON types for every operation: JSON for a mutation.
        (
            "application/graphql-response+json, application/graphql+json, application/json, "
            "text/event-stream, multipart/mixed",
            False,
        ),
        ("application/json, text/event-stream;q=0", False),
        ("*/*", False),
        (None, False),
    ],
)
def test_a_stream_only_when_the_client_prefers_it(accept: str | None, stream: bool) -> None:
    assert prefers_event_stream(accept) is stream
