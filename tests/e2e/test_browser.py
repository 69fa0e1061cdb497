"""GraphiQL end to end: headless Chromium, no network beyond loopback, a query run by clicks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from app.http.graphiql import EXAMPLES
from tests.support.browser import Browser
from tests.support.live import LiveStack, post
from tests.support.paths import ROOT

pytestmark = pytest.mark.server

SCREENSHOT = ROOT / "docs" / "graphiql.png"
# As a person would: the credential hints left as they are, one header of their own added.
HEADERS = {"X-API-Key": "", "Authorization": "Bearer ", "X-Request-ID": "graphiql-e2e"}
PROVIDERS = {"PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS"}


def example(name: str) -> str:
    """The example query (docs/examples.md) whose operation is `name`."""
    return next(query for _, query in EXAMPLES if query.split()[1] == name)


def editor_text(page: Page, selector: str) -> str:
    """The whole text of the CodeMirror editor in `selector` (its DOM holds the visible lines)."""
    text: str = page.locator(f"{selector} .CodeMirror").evaluate("e => e.CodeMirror.getValue()")
    return text


def _first_field(query: str) -> str:
    """The first root field a query selects (what its result starts with)."""
    return query.split("{", 2)[1].split("(")[0].split()[0]


def test_graphiql_runs_a_sessions_query_offline(
    live: LiveStack, browser: Browser, tmp_path: Path
) -> None:
    page = browser.page
    page.goto(live.url)
    tabs = page.locator(".graphiql-tab")
    tabs.first.wait_for()
    assert tabs.all_inner_texts() == [query.split()[1] for _, query in EXAMPLES]

    tabs.filter(has_text="NewestSessions").click()
    page.get_by_role("button", name="Headers").click()
    page.locator(".graphiql-editor-tool .CodeMirror").last.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(json.dumps(HEADERS, indent=2))
    page.locator(".graphiql-execute-button").click()
    page.locator(".result-window", has_text='"totalCount"').wait_for()

    assert '"sessions"' in page.locator(".result-window").inner_text()
    result = json.loads(editor_text(page, ".result-window"))
    assert result == post(live.url, example("NewestSessions"))
    providers = {edge["node"]["provider"] for edge in result["data"]["sessions"]["edges"]}
    assert providers
    assert providers <= PROVIDERS

    posts = [r for r in browser.requests if r.method == "POST"]
    run = next(r for r in posts if "NewestSessions" in (r.post_data or ""))
    response = run.response()
    assert response is not None
    assert response.headers["x-request-id"] == run.headers["x-request-id"] == "graphiql-e2e"
    # Unfilled credential hints are not sent: the gateway would refuse an empty one.
    sent = {name for r in posts for name in r.headers}
    assert sent.isdisjoint({"x-api-key", "authorization"})
    assert [r.url for r in browser.requests if urlsplit(r.url).hostname != "127.0.0.1"] == []
    assert browser.blocked == []
    assert browser.console == []

    # Every other example runs from its tab too, the Kratos one among them.
    queries = [q for _, q in EXAMPLES if "NewestSessions" not in q and q.startswith("query")]
    for name in [query.split()[1] for query in queries]:
        tabs.filter(has_text=name).click()
        page.locator(".graphiql-tab-active", has_text=name).wait_for()
        page.locator(".graphiql-execute-button").click()
        page.locator(".result-window", has_text=f'"{_first_field(example(name))}"').wait_for()
        shown = json.loads(editor_text(page, ".result-window"))
        assert "errors" not in shown, (name, shown)
        assert shown["data"], name
        if name == "KratosSessions":
            assert shown == post(live.url, example(name))
            assert shown["data"]["sessions"]["edges"]

    # The subscription tab streams over SSE: its events show up as they arrive.
    tabs.filter(has_text="LiveSessions").click()
    page.locator(".graphiql-tab-active", has_text="LiveSessions").wait_for()
    page.locator(".graphiql-execute-button").click()
    page.locator(".result-window", has_text='"sessionEvents"').wait_for(timeout=30_000)
    shown = json.loads(editor_text(page, ".result-window"))
    assert shown["data"]["sessionEvents"]["kind"] == "CREATED"
    assert shown["data"]["sessionEvents"]["provider"] == "KRATOS"
    streamed = [r for r in browser.requests if "LiveSessions" in (r.post_data or "")]
    assert streamed[-1].headers["accept"] == "text/event-stream"
    page.locator(".graphiql-execute-button").click()  # stops the subscription
    assert browser.console == []

    page.screenshot(path=tmp_path / "graphiql.png")
    if os.environ.get("GATEWAY_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / "graphiql.png", SCREENSHOT)
