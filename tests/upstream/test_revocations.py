"""Revocations: every listener hears of a confirmed revoke; a failing one harms nobody."""

from __future__ import annotations

import logging

import pytest

from app.core.records import Provider
from app.upstream.revocations import Revocations, Revoked


async def test_listeners_hear_in_order_and_a_failing_one_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[tuple[str, Revoked]] = []
    revocations = Revocations()

    async def first(revoked: Revoked) -> None:
        heard.append(("first", revoked))

    async def broken(revoked: Revoked) -> None:
        raise RuntimeError("listener bug")

    async def last(revoked: Revoked) -> None:
        heard.append(("last", revoked))

    for listener in (first, broken, last):
        revocations.listen(listener)
    revoked = Revoked(Provider.ZITADEL, session_ids=("s1",))
    with caplog.at_level(logging.ERROR, logger="session_gateway.revocations"):
        await revocations.publish(revoked)

    assert heard == [("first", revoked), ("last", revoked)]
    assert "revocation listener failed" in caplog.text
