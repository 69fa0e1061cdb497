"""The mocks' kept listing order follows the sessions as handlers and tests change them."""

from __future__ import annotations

from typing import Any

from app.mocks.order import Ordering


def test_the_order_is_made_again_when_sessions_come_or_go() -> None:
    sessions: list[dict[str, Any]] = [{"id": i} for i in (3, 1, 2)]
    order = Ordering(lambda s: s["id"])
    assert [s["id"] for s in order.of(sessions).items] == [1, 2, 3]
    sessions.append({"id": 0})
    assert [s["id"] for s in order.of(sessions).items] == [0, 1, 2, 3]
    sessions.remove(sessions[0])
    assert [s["id"] for s in order.of(sessions).items] == [0, 1, 2]
    sessions[0] = {"id": 9}  # replaced in place: same length, another session
    assert [s["id"] for s in order.of(sessions).items] == [0, 2, 9]
    assert order.after(2) == 2
