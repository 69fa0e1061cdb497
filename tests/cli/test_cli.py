"""The console script: export-schema, and `demo` serving GraphiQL and data over loopback."""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn

from app.cli import main
from app.http.serving import GC_THRESHOLDS
from tests.support.net import free_port
from tests.support.paths import ROOT

pytestmark = pytest.mark.server


def test_export_schema_prints_the_checked_in_sdl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == (ROOT / "schema.graphql").read_text()


def test_serve_refuses_malformed_configuration() -> None:
    env = {**os.environ, "GATEWAY_ZITADEL_URL": "not a url"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "GATEWAY_ZITADEL_URL: must be an http(s) origin" in done.stderr


@pytest.fixture
def python_collector() -> Iterator[tuple[int, ...]]:
    """Python's collector thresholds, put back after the test."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


@pytest.mark.parametrize("workers", [1, 3])
def test_serve_tunes_the_collector_of_each_serving_process(
    workers: int, python_collector: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_ALLOW_ANONYMOUS", "true")
    served: list[tuple[object, dict[str, object], tuple[int, ...]]] = []

    def run(app: object, **options: object) -> None:
        served.append((app, options, gc.get_threshold()))

    monkeypatch.setattr(uvicorn, "run", run)
    assert main(["serve", "--port", "9", "--workers", str(workers)]) == 0
    [(app, options, thresholds)] = served
    if workers == 1:
        assert thresholds == GC_THRESHOLDS
        return
    # Each worker process builds its app from the factory uvicorn imports by name.
    assert thresholds == python_collector
    assert options["factory"] is True
    assert options["workers"] == 3
    module, name = str(app).split(":")
    factory = getattr(importlib.import_module(module), name)
    assert callable(factory())
    assert gc.get_threshold() == GC_THRESHOLDS


def test_demo_serves_graphiql_and_merged_sessions() -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = urllib.request.urlopen(
                    urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=5
                )
                break
            except OSError:
                assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert "graphiql" in page.read().decode().lower()
        body = json.dumps({"query": "{ sessions(first: 3) { totalCount nodes { provider } } }"})
        request = urllib.request.Request(
            url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        result = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert result["data"]["sessions"]["totalCount"] > 300
        # The demo's mock Kratos churns: a subscription sees a session begin.
        watch = "subscription { sessionEvents(filter: {providers: [KRATOS]}) { kind } }"
        request = urllib.request.Request(
            url,
            data=json.dumps({"query": watch}).encode(),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        with urllib.request.urlopen(request, timeout=30) as stream:
            deadline = time.monotonic() + 30
            while b'"CREATED"' not in stream.readline():
                assert time.monotonic() < deadline
    finally:
        demo.terminate()
        output, _ = demo.communicate(timeout=30)
    assert f"GraphiQL: http://127.0.0.1:{port}/graphql" in output


def test_demo_with_api_keys_set_checks_them_and_allows_only_its_own_origin() -> None:
    port = free_port()
    keys = json.dumps([{"name": "demo-ops", "key": "demo-key-0123456789"}])
    env = {**os.environ, "GATEWAY_API_KEYS": keys}
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/graphql"

    def preflight(origin: str) -> tuple[int, str | None]:
        request = urllib.request.Request(
            url,
            method="OPTIONS",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.headers.get("access-control-allow-origin")
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("access-control-allow-origin")

    def query(headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        body = json.dumps({"query": "{ sessions(first: 1) { totalCount } }"}).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, allowed = preflight(f"http://127.0.0.1:{port}")
                break
            except OSError:
                assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert (status, allowed) == (204, f"http://127.0.0.1:{port}")
        assert preflight("https://any-page.example")[0] == 400

        assert query({"X-API-Key": "demo-key-0123456789"})[0] == 200
        status, body = query({"X-API-Key": "not-a-key"})
        assert status == 401
        assert body["errors"] == [
            {"message": "The API key is not valid.", "extensions": {"code": "UNAUTHENTICATED"}}
        ]
    finally:
        demo.terminate()
        output, _ = demo.communicate(timeout=30)
    assert "Traceback" not in output
    assert f"GATEWAY_CORS_ORIGINS=http://127.0.0.1:{port} (list other apps' origins there)" in (
        output
    )
    assert "demo-key-0123456789" not in output


def test_demo_refuses_any_origin_with_api_keys_in_a_sentence() -> None:
    keys = json.dumps([{"name": "demo-ops", "key": "demo-key-0123456789"}])
    env = {**os.environ, "GATEWAY_API_KEYS": keys, "GATEWAY_CORS_ORIGINS": "*"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "GATEWAY_CORS_ORIGINS=* is for anonymous demos only" in done.stderr


def test_demo_prints_a_viewer_token_that_signs_out_other_sessions() -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    page = """query WhereAmISignedIn {
      viewer { currentSession { id } sessions(first: 100, filter: {statuses: [ACTIVE]}) {
        nodes { id provider current } } }
    }"""

    def post(query: str, headers: dict[str, str]) -> dict[str, object]:
        body = json.dumps({"query": query}).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json", **headers}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, object] = json.loads(answer.read())
            return result

    try:
        assert demo.stdout is not None
        printed: list[str] = []
        while not printed or not printed[-1].startswith("GraphiQL:"):
            line = demo.stdout.readline()
            assert line, "".join(printed)
            printed.append(line)
        headers = json.loads(next(line for line in printed if line.startswith('{"Authorization"')))
        deadline = time.monotonic() + 60
        while True:
            try:
                before = post(page, headers)
                break
            except OSError:
                assert demo.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.2)
        viewer = before["data"]["viewer"]  # type: ignore[index]
        nodes = viewer["sessions"]["nodes"]
        assert len({n["provider"] for n in nodes}) >= 3
        assert [n["id"] for n in nodes if n["current"]] == [viewer["currentSession"]["id"]]

        signed_out = post(
            "mutation { signOutOtherSessions { ended { id } failed { code } } }", headers
        )
        assert signed_out["data"]["signOutOtherSessions"]["failed"] == []  # type: ignore[index]
        after = post(page, headers)["data"]["viewer"]  # type: ignore[index]
        # Sessions the demo's churn began meanwhile aside, only the current one is left.
        assert viewer["currentSession"]["id"] in [n["id"] for n in after["sessions"]["nodes"]]
        assert {n["id"] for n in after["sessions"]["nodes"]} <= {viewer["currentSession"]["id"]} | {
            n["id"] for n in after["sessions"]["nodes"] if n["provider"] == "KRATOS"
        }
    finally:
        demo.terminate()
        output, _ = demo.communicate(timeout=30)
    assert "Traceback" not in output
