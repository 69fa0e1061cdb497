"""Trusted documents hold on the streaming transports too: in `require` mode an arbitrary
subscription is refused over SSE and WebSocket, and a trusted one runs by `documentId`."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from app.http.media import EVENT_STREAM
from tests.live.test_transports import Client, error_code, event
from tests.support.digest import sha256
from tests.support.live import LiveStack

TRUSTED = "subscription Trusted { sessionEvents(includeInitial: true) { kind sessionId } }"
ARBITRARY = "subscription Other { sessionEvents { kind } }"
KEYS = [
    {"name": "app", "key": "app-key", "scopes": ["sessions:read:all"]},
    {"name": "ide", "key": "ide-key", "scopes": ["sessions:read:all", "documents:any"]},
]

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    manifest = tmp_path_factory.mktemp("trusted") / "manifest.json"
    manifest.write_text(json.dumps({f"sha256:{sha256(TRUSTED)}": TRUSTED}))
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(KEYS),
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        "GATEWAY_PERSISTED_DOCUMENTS_MODE": "require",
        "GATEWAY_POLL_INTERVAL": "1",
    }
    with LiveStack(env=env) as live:
        yield live


def _options(stack: LiveStack, transport: str, key: str, query: str) -> dict[str, Any]:
    url = stack.url if transport == "sse" else stack.url.replace("http://", "ws://")
    auth = {"X-API-Key": key}
    credentials = {"headers": auth} if transport == "sse" else {"connectionParams": auth}
    return {"transport": transport, "url": url, "query": query, **credentials}


def test_require_mode_refuses_arbitrary_sse_subscriptions(stack: LiveStack) -> None:
    body = json.dumps({"query": ARBITRARY}).encode()
    headers = {"Content-Type": "application/json", "Accept": EVENT_STREAM, "X-API-Key": "app-key"}
    request = urllib.request.Request(stack.url, body, headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    answer = json.loads(refused.value.read())
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"


def test_require_mode_refuses_arbitrary_websocket_subscriptions(
    stack: LiveStack,
) -> None:
    client = Client(_options(stack, "ws", "app-key", ARBITRARY))
    try:
        line = client.wait_for(lambda line: line.get("kind") == "error", 15)
        assert "PERSISTED_DOCUMENT_REQUIRED" in json.dumps(line)
        assert not any(event(line) for line in client.seen)
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["sse", "ws"])
@pytest.mark.parametrize(
    ("key", "query"),
    [
        ("app-key", TRUSTED),
        ("ide-key", ARBITRARY.replace("{ kind", "(includeInitial: true) { kind")),
    ],
)
def test_a_trusted_document_or_a_key_with_documents_any_runs(
    stack: LiveStack, transport: str, key: str, query: str
) -> None:
    client = Client(_options(stack, transport, key, query))
    try:
        line = client.wait_for(
            lambda line: event(line) is not None or error_code(line) is not None, 30
        )
        assert error_code(line) is None, line
    finally:
        client.close()
