"""Headless Chromium (Debian's, driven by Playwright) that may reach loopback only; the
`browser` fixture is in tests/e2e/conftest.py."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Request, Route

CHROMIUM = Path("/usr/bin/chromium")
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
