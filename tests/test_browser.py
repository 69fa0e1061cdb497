"""GraphiQL end to end: headless Chromium, no network beyond loopback, a query run by clicks."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Request, Route, sync_playwright

from app.http.graphiql import EXAMPLES, missing_assets
from tests.live import LiveStack, post

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "graphiql.png"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name but the gateway's resolves to nothing, whoever in Chromium asks.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# As a person would: the credential hints left as they are, one header of their own added.
HEADERS = {"X-API-Key": "", "Authorization": "Bearer ", "X-Request-ID": "graphiql-e2e"}
PROVIDERS = {"PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS"}


class Browser:
    """A page in a fresh Chromium profile that may reach 127.0.0.1 only, and what it tried."""

    def __init__(self, context: BrowserContext) -> None:
        self.requests: list[Request] = []
        self.blocked: list[str] = []
        self.console: list[str] = []
        context.route("**/*", self._route)
        self.page: Page = context.pages[0] if context.pages else context.new_page()
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("pageerror", lambda error: self.console.append(str(error)))

    def _route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup-browser (Debian's chromium)")
    if missing := missing_assets():
        pytest.fail(f"GraphiQL's files are missing ({missing[0]}): run scripts/setup-graphiql")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1440, "height": 900},
        )
        try:
            yield Browser(context)
        finally:
            context.close()


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
