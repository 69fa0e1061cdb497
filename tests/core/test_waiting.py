"""Bounded waits and loops that never lose a cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from app.core.waiting import stop_if_cancelled, wait_set


async def test_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 0.0) is True


async def test_an_event_set_while_waiting_ends_the_wait() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 60))
    await asyncio.sleep(0)
    event.set()
    assert await waiting is True


@pytest.mark.parametrize("turns", [0, 1, 2])
async def test_a_cancellation_arriving_with_the_event_is_kept(turns: int) -> None:
    # asyncio.wait_for on 3.11 returns normally here: a stopping loop would run on.
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 60))
    await asyncio.sleep(0)
    event.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    if waiting.done():
        assert waiting.result() is True
        return
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_loop_stops_when_a_library_turns_its_cancellation_into_an_error() -> None:
    rounds = 0
    turned = False

    async def call() -> None:
        nonlocal turned
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if turned:
                raise
            turned = True  # once: a loop that runs on is then stopped by the test's end
            # As redis-py may, when closing the connection of a cancelled command fails.
            raise ConnectionResetError("reset while cleaning up") from None

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            with contextlib.suppress(OSError):  # the loop's ordinary failures
                await call()
            stop_if_cancelled()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert rounds == 1
