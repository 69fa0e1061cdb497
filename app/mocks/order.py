"""A mock's listing in its upstream's order, sorted once and kept until the sessions change.

Organisations of 100,000 sessions are listed many times a second by tests and benches; sorting
them (and parsing their timestamps) on every request would make the mock, not the gateway, the
bottleneck. The order is by fields that never change once a session exists (creation time,
id), so it stays valid while the same sessions are there; any session added or removed, by a
handler or by a test editing the data, changes the fingerprint and the order is made again.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Ordering"]

Session = dict[str, Any]


class Ordering:
    """`sessions` sorted by `key` (ascending), with the keys beside them for keyset seeks."""

    def __init__(self, key: Callable[[Session], Any]) -> None:
        self._key = key
        self._fingerprint: tuple[int, int, int] | None = None
        self.items: list[Session] = []
        self.keys: list[Any] = []

    def of(self, sessions: Sequence[Session]) -> Ordering:
        """Itself, sorted as `sessions` are now."""
        fingerprint = (id(sessions), len(sessions), sum(map(id, sessions)))
        if fingerprint != self._fingerprint:
            pairs = sorted(((self._key(s), i) for i, s in enumerate(sessions)), key=_first)
            self.items = [sessions[i] for _, i in pairs]
            self.keys = [k for k, _ in pairs]
            self._fingerprint = fingerprint
        return self

    def after(self, key: Any) -> int:
        """The position of the first session ordered after `key`."""
        return bisect.bisect_right(self.keys, key)


def _first(pair: tuple[Any, int]) -> Any:
    return pair[0]
