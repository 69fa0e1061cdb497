"""Listings parsed once per answer: the same bytes from an upstream are not parsed again.

"Your sessions" views, dashboards and live pollers ask for the same sessions again and again,
and an upstream mostly answers the same bytes. Parsing them into records is the largest share
of an upstream call's CPU after the exchange itself (hyper.id's whole listing comes back on
every request). Records parsed from the same bytes by the same function are the same, but for
one thing: a status computed against the clock (a session whose expiry has passed is EXPIRED,
and nothing else in a parse reads the clock). So a kept parse is used only until the earliest
expiry that was still ahead when it was made; after that, the bytes are parsed again.

Records are frozen and their deferred parts parse once (records.Deferred), so requests can
share them; each caller gets its own list. Kept per endpoint, least recently used out, up to
256 KiB of answers: the records made from an answer take 3 to 6 times its size (measured on
the mock world), so that is at most about 2 MiB per endpoint, and a walk through every session
(pages that are never asked for again) cannot grow the process by more. Answers other than 200
are never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.records import SessionRecord

# A listing's parse: its records, and what else the answer said (a total, authorizations).
Parsed = tuple[list[SessionRecord], Any]
Parse = Callable[[Any], Parsed]


@dataclass(slots=True)
class _Kept:
    parsed: Parsed
    until: datetime | None  # None: no record's status will change with time


class KeptParses:
    """Parsed listings by (parse function, answer bytes), while the statuses in them hold."""

    def __init__(
        self, max_bytes: int = 256 << 10, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._max_bytes = max_bytes
        self._clock = clock or (lambda: datetime.now(UTC))
        self._kept: OrderedDict[tuple[Parse, bytes], _Kept] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.parses = 0

    def now(self) -> datetime:
        """The clock a parse is kept against (read before parsing, so a kept parse is never
        used past an expiry its own parse saw as ahead)."""
        return self._clock()

    def get(self, parse: Parse, content: bytes) -> Parsed | None:
        """The kept parse of `content` by `parse`, with a list of its own; None to parse."""
        key = (parse, content)
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept.until is not None and self._clock() >= kept.until:
            self._drop(key)
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        records, rest = kept.parsed
        return list(records), rest

    def keep(self, parse: Parse, content: bytes, parsed: Parsed, since: datetime) -> Parsed:
        """Keep `parsed`, made from `content` at `since` or later; returns it for the caller."""
        self.parses += 1
        if len(content) > self._max_bytes:
            return parsed
        records, rest = parsed
        key = (parse, content)
        if key in self._kept:
            self._drop(key)
        self._kept[key] = _Kept((list(records), rest), _first_expiry(records, since))
        self._bytes += len(content)
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._kept)))
        return parsed

    def _drop(self, key: tuple[Parse, bytes]) -> None:
        del self._kept[key]
        self._bytes -= len(key[1])


def _first_expiry(records: Sequence[SessionRecord], since: datetime) -> datetime | None:
    """The earliest expiry after `since`: until then, every status parsed at `since` holds."""
    ahead = [r.expires_at for r in records if r.expires_at is not None and r.expires_at > since]
    return min(ahead) if ahead else None
