"""Values known now or later."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from app.core.maybe import then


def plus_one(n: int) -> int:
    return n + 1


def test_a_known_value_is_used_at_once() -> None:
    assert then(20, plus_one) == 21


async def test_an_awaitable_is_used_once_it_is_known() -> None:
    async def later() -> int:
        await asyncio.sleep(0)
        return 20

    answer = then(later(), plus_one)
    assert inspect.isawaitable(answer)
    assert await answer == 21


async def test_a_failure_of_the_awaitable_reaches_the_awaiter() -> None:
    async def failing() -> int:
        raise LookupError("gone")

    answer = then(failing(), plus_one)
    assert inspect.isawaitable(answer)
    with pytest.raises(LookupError, match="gone"):
        await answer
