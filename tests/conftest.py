"""Shared fixtures: one live stack (mocks + gateway over loopback HTTP) per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from app.mocks import MockData, MockUpstreams
from tests.live import LiveStack
from tests.mode import FAST_PATH


def pytest_report_header() -> str:
    return f"gateway fast path: {'on' if FAST_PATH else 'off'} (GATEWAY_FAST_PATH)"


@pytest.fixture(scope="session")
def stack() -> Iterator[LiveStack]:
    with LiveStack() as live:
        yield live


@pytest.fixture
def live(stack: LiveStack) -> LiveStack:
    """The shared stack with its call counters reset."""
    stack.reset_calls()
    return stack


@pytest.fixture
async def mocks(data: MockData) -> AsyncIterator[MockUpstreams]:
    """Mock upstreams serving the requesting module's `data` fixture."""
    async with MockUpstreams(data) as upstreams:
        yield upstreams


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
