"""A browser app on another loopback origin calls the gateway through CORS: headless Chromium
loads a page from a second port, queries sessions with an API key and revokes one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.browser import Browser
from tests.support.digest import sha256
from tests.support.live import LiveStack

pytestmark = pytest.mark.server

KEY = "browser-app-key"
# The app: what a frontend does with fetch, credentials in a header (so a preflight first).
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sessions app</title></head>
<body><p>Sessions app</p><script>
async function graphql(url, key, query, variables) {
  const response = await fetch(url, {
    method: "POST",
    headers: {"content-type": "application/json", "x-api-key": key, "x-request-id": "app-1"},
    body: JSON.stringify({query, variables}),
  });
  return {status: response.status, requestId: response.headers.get("x-request-id"),
          body: await response.json()};
}
</script></body></html>
"""
SESSIONS = """query { sessions(first: 3, filter: {providers: [ZITADEL], statuses: [ACTIVE]}) {
  edges { node { id status } } } }"""
REVOKE = """mutation ($id: ID!) { revokeSession(id: $id) {
  __typename ... on SessionRevoked { session { id status } } } }"""
CALL = "([url, key, query, variables]) => graphql(url, key, query, variables)"
# In the page, fetch() refusing the answer (no CORS headers for this origin) is a TypeError.
BLOCKED = "([url, key, query]) => graphql(url, key, query, {}).then(() => 'read', e => e.name)"


class _App(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def apps() -> Iterator[tuple[str, str]]:
    """Two app origins on loopback: the gateway lists the first only."""
    servers = [_serve(), _serve()]
    try:
        yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_an_app_on_another_origin_queries_and_revokes(
    browser: Browser,
    apps: tuple[str, str],
) -> None:
    listed, unlisted = apps
    scopes = ["sessions:read:all", "sessions:revoke:all"]
    keys = [{"name": "app", "key_sha256": sha256(KEY), "scopes": scopes}]
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(keys),
        "GATEWAY_CORS_ORIGINS": listed,
    }
    with LiveStack(env=env) as live:
        page = browser.page
        page.goto(listed + "/")
        page.get_by_text("Sessions app").wait_for()

        found = page.evaluate(CALL, [live.url, KEY, SESSIONS, {}])
        assert found["status"] == 200
        assert found["requestId"] == "app-1"  # exposed to the page
        edges = found["body"]["data"]["sessions"]["edges"]
        assert edges
        session = edges[0]["node"]["id"]

        revoked = page.evaluate(CALL, [live.url, KEY, REVOKE, {"id": session}])
        assert revoked["body"]["data"]["revokeSession"] == {
            "__typename": "SessionRevoked",
            "session": {"id": session, "status": "REVOKED"},
        }
        preflights = [r for r in browser.requests if r.method == "OPTIONS"]
        posts = [r for r in browser.requests if r.method == "POST"]
        console = list(browser.console)

        page.goto(unlisted + "/")
        page.get_by_text("Sessions app").wait_for()
        refused = page.evaluate(BLOCKED, [live.url, KEY, SESSIONS])

    assert refused == "TypeError"
    assert len(posts) == 2
    # The preflight is sent by the network stack: Playwright may or may not list it.
    assert all(r.url == live.url for r in preflights)
    assert console == []
    # Chromium says why the other origin could not read the answer.
    assert any("CORS policy" in m for m in browser.console[len(console) :]), browser.console
