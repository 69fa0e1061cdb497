"""Operating the gateway: readiness, metrics, request logs, request ids, HTTP negotiation."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.http.graphiql import EXAMPLES
from app.mocks import Fault, FaultPlan
from app.observability.metrics import OPERATION_NAMES_PER_CALLER
from tests.support.digest import sha256
from tests.support.live import LiveStack, get, post

pytestmark = pytest.mark.server


def raw_post(
    live: LiveStack, body: dict[str, Any], accept: str | None
) -> tuple[int, str, dict[str, Any]]:
    headers = {"Content-Type": "application/json", "X-Request-ID": "req-ops-1"}
    if accept is not None:
        headers["Accept"] = accept
    request = urllib.request.Request(
        live.url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["content-type"], json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], json.loads(error.read())


def base(live: LiveStack) -> str:
    return live.url.removesuffix("/graphql")


def test_readyz_reports_each_provider(live: LiveStack) -> None:
    status, _, body = get(base(live) + "/readyz")
    assert status == 200
    report = json.loads(body)
    assert report["status"] == "ready"
    assert set(report["providers"]) == {"PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS"}

    live.mocks.set_fault("ZITADEL", FaultPlan(Fault.UNAUTHORIZED))
    try:
        # The answer is reused for a second, so the fault shows from the next round on.
        for _ in range(100):
            status, _, body = get(base(live) + "/readyz")
            if status == 503:
                break
            time.sleep(0.1)
    finally:
        live.mocks.clear_faults()
    report = json.loads(body)
    assert status == 503
    assert report["providers"]["ZITADEL"] == {
        "ready": False,
        "latencyMs": report["providers"]["ZITADEL"]["latencyMs"],
        "code": "UPSTREAM_UNAUTHORIZED",
    }
    assert report["providers"]["PRIVX"]["ready"] is True


def test_concurrent_readyz_requests_share_one_round_of_probes(live: LiveStack) -> None:
    time.sleep(1.1)  # past the previous test's round
    live.reset_calls()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = [s for s, _, _ in pool.map(lambda _: get(base(live) + "/readyz"), range(40))]
    took = time.monotonic() - started

    assert statuses == [200] * 40
    # A round is shared for a second: one, and one more for each second the requests took
    # (usually a fraction of one; a busy machine may take longer). Not one per request.
    rounds = 1 + math.ceil(took)
    for provider in ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID"):
        assert 1 <= len(live.calls(provider)) <= min(rounds, 10)


def test_metrics_count_requests_and_upstream_calls_per_provider(live: LiveStack) -> None:
    post(live.url, "query DemoPage { sessions(first: 5) { totalCount } }")

    status, headers, body = get(base(live) + "/metrics", accept="text/plain")

    text = body.decode()
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["content-type"].startswith("text/plain")
    for provider in ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID"):
        assert f'gateway_upstream_calls_total{{provider="{provider}",status="200"}}' in text
        assert f'gateway_circuit_state{{provider="{provider}"}} 0.0' in text
    assert 'gateway_graphql_requests_total{operation="DemoPage",outcome="ok"}' in text
    assert "gateway_dataloader_batch_size_bucket" in text
    assert "gateway_graphql_request_duration_seconds_bucket" in text


def test_operation_names_are_bounded_labels(live: LiveStack) -> None:
    post(live.url, "query Weird_1 { providers { name } }")
    _, _, body = get(base(live) + "/metrics", accept="text/plain")
    assert 'operation="Weird_1"' in body.decode()
    assert "{ providers" not in body.decode()  # never the raw query


def test_one_caller_inventing_names_leaves_the_others_their_labels(tmp_path: Path) -> None:
    trusted = "query TrustedList { providers { provider } }"
    digest = sha256(trusted)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({f"sha256:{digest}": trusted}))
    keys = [{"name": name, "key": f"{name}-key"} for name in ("junk", "other-junk", "app")]
    example = EXAMPLES[0][1].split()[1]  # the first GraphiQL tab's operation name
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(keys),
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
    }
    with LiveStack(env=env) as live:
        for key in ("junk-key", "other-junk-key"):
            for i in range(100):
                post(
                    live.url, f"query Junk{key[0]}{i} {{ __typename }}", headers={"X-API-Key": key}
                )
        for query in (
            "query RealWork { __typename }",
            trusted,
            f"query {example} {{ __typename }}",
        ):
            assert "errors" not in post(live.url, query, headers={"X-API-Key": "app-key"})
        _, _, body = get(base(live) + "/metrics", accept="text/plain")

    counted = {
        line.split('operation="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("gateway_graphql_requests_total{")
    }
    # Each junk caller got its share of labels; the rest of its names are `other`.
    junk = [name for name in counted if name.startswith("Junk")]
    assert len(junk) == 2 * OPERATION_NAMES_PER_CALLER
    assert counted["other"] == 2 * (100 - OPERATION_NAMES_PER_CALLER)
    # Another caller's operation, a trusted document's and a GraphiQL example's keep theirs.
    assert counted["RealWork"] == counted["TrustedList"] == counted[example] == 1


def test_one_json_log_line_per_request(live: LiveStack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="session_gateway.requests"):
        raw_post(live, {"query": "query Logged { sessions(first: 3) { totalCount } }"}, None)

    records = [r for r in caplog.records if getattr(r, "operation", None) == "Logged"]
    assert len(records) == 1
    line = records[0].__dict__
    assert line["requestId"] == "req-ops-1"
    assert line["outcome"] == "ok"
    assert line["upstreamCalls"] >= 4
    assert line["durationMs"] > 0


def test_request_id_in_header_and_error_extensions(live: LiveStack) -> None:
    request = urllib.request.Request(
        live.url,
        data=json.dumps({"query": "{ sessions(first: 500) { totalCount } }"}).encode(),
        headers={"Content-Type": "application/json", "X-Request-ID": "abc-123"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["X-Request-ID"] == "abc-123"
        body = json.loads(response.read())
    assert body["errors"][0]["extensions"]["requestId"] == "abc-123"


@pytest.mark.parametrize(
    ("accept", "query", "status", "media", "has_data"),
    [
        (None, "{ providers { name } }", 200, "application/json", True),
        (
            "application/graphql-response+json",
            "{ providers { name } }",
            200,
            "application/graphql-response+json",
            True,
        ),
        (
            "application/graphql-response+json",
            "{ nope }",
            400,
            "application/graphql-response+json",
            False,
        ),
        ("application/json", "{ nope }", 200, "application/json", True),
        (
            "application/graphql-response+json, application/json;q=0.5",
            "{ sessions(first: 0) { totalCount } }",
            200,
            "application/graphql-response+json",
            True,
        ),
        ("text/csv", "{ providers { name } }", 406, "application/json", False),
    ],
)
def test_graphql_over_http_negotiation(
    live: LiveStack, accept: str | None, query: str, status: int, media: str, has_data: bool
) -> None:
    got_status, content_type, body = raw_post(live, {"query": query}, accept)

    assert got_status == status
    assert content_type.startswith(media)
    assert ("data" in body) is has_data


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/JSON"]
)
def test_content_types_match_case_insensitively(live: LiveStack, content_type: str) -> None:
    request = urllib.request.Request(
        live.url,
        data=json.dumps({"query": "{ providers { name } }"}).encode(),
        headers={"Content-Type": content_type},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        status, body = response.status, json.loads(response.read())

    assert status == 200
    assert len(body["data"]["providers"]) == 5


def test_a_client_gone_mid_body_is_one_info_line(
    live: LiveStack, caplog: pytest.LogCaptureFixture
) -> None:
    server_errors = logging.getLogger("uvicorn.error")  # where uvicorn logs app exceptions
    server_errors.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="session_gateway"):
            host, port = urllib.parse.urlsplit(live.url).netloc.split(":")
            with socket.create_connection((host, int(port)), timeout=30) as client:
                client.sendall(
                    b"POST /graphql HTTP/1.1\r\nHost: gateway\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                    b'{"query": '
                )
            for _ in range(500):  # the server notices the close on its own thread
                if any(r.levelno >= logging.INFO for r in caplog.records):
                    break
                time.sleep(0.01)
    finally:
        server_errors.removeHandler(caplog.handler)

    logged = [
        (r.name, r.levelname, "disconnected" in r.getMessage(), r.exc_info is None)
        for r in caplog.records
        if r.levelno >= logging.INFO
    ]
    assert logged == [("session_gateway", "INFO", True, True)]
