"""Shared fixtures: one live stack (mocks + gateway over loopback HTTP) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import LiveStack


@pytest.fixture(scope="session")
def stack() -> Iterator[LiveStack]:
    with LiveStack() as live:
        yield live


@pytest.fixture
def live(stack: LiveStack) -> LiveStack:
    """The shared stack with its call counters reset."""
    stack.reset_calls()
    return stack
