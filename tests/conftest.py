"""Shared fixtures: one live stack (mocks + gateway over loopback HTTP) per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import aiohttp
import pytest

from app.mocks import MockData, MockUpstreams, generate
from app.mocks.geo import write_databases
from tests.support.expected import all_records
from tests.support.live import LiveStack
from tests.support.mode import FAST_PATH

# The gateway derives statuses from expiries and its own wall clock. No session of the shared
# world expires within this long after the world's `now`, so its statuses stay as they were
# made for the whole run, and expectations can use `now` instead of the clock.
QUIET = timedelta(minutes=30)


# Fixtures that start servers: a test using one (here or a module's own of the same name) is
# marked `server`. Modules whose tests start servers otherwise mark them themselves.
SERVER_FIXTURES = {"stack", "live", "small", "mocks", "browser"}


def pytest_report_header() -> str:
    return f"gateway fast path: {'on' if FAST_PATH else 'off'} (GATEWAY_FAST_PATH)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data = generate()
    soon = [t for t in expiries(data) if data.now < t <= data.now + QUIET]
    assert not soon, f"the generated world has sessions expiring within {QUIET}: {soon}"
    # The GeoIP databases `session-gateway demo` writes: the examples show places.
    geo = write_databases(str(tmp_path_factory.mktemp("geo")))
    with LiveStack(data, geo) as live:
        yield live


def expiries(data: MockData) -> list[datetime]:
    """Every expiry in the world, of every registered provider: the moments a status changes."""
    return [r.expires_at for r in all_records(data) if r.expires_at is not None]


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
