"""Values that are known now or only later: a resolver returns the value itself when it has
it, so that no coroutine, and no task to run it, is made for what needs no waiting."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Maybe: TypeAlias = T | Awaitable[T]


def then(value: Maybe[T], use: Callable[[T], R]) -> Maybe[R]:
    """`use(value)`: now if `value` is known, else once it is."""
    if inspect.isawaitable(value):
        return _later(value, use)
    return use(value)


async def _later(value: Awaitable[T], use: Callable[[T], R]) -> R:
    return use(await value)
