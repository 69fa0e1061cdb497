"""The end-to-end tests' browser: a fresh headless Chromium profile per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from app.http.graphiql import missing_assets
from tests.support.browser import CHROMIUM, FLAGS, Browser


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
