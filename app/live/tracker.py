"""What a watch knows of one provider's sessions, kept small, and the changes a page reveals.

A watch of an organisation may follow 100,000 sessions per provider, so it keeps no full
record for most of them: per session an `Entry` (creation instant, expiry, status, a digest of
what makes an UPDATED event, its user and listing), its place in a creation-ordered index and,
while it can expire, one expiry-heap item. Full records are kept only for the newest `keep`
sessions (what `includeInitial` sends). docs/live.md gives the bytes per session.

Pages are judged by creation instant: a known session whose instant lies strictly inside the
span a page covers of its listing, and that the page does not hold, is gone (DISAPPEARED). A
page covers from its newest record (or, for the first page, everything newer) to its oldest
(or, for the last, everything older); sessions at a page's boundary instants are judged by
the pages around them, so no upstream tie order matters.
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from app.core import ids
from app.core.errors import BadUserInput
from app.core.records import Provider, SessionRecord, SessionStatus
from app.listing.filter import Predicate
from app.listing.streams import Token
from app.live.events import EndReason, EventKind, SessionChange

_REASONS = {
    SessionStatus.REVOKED: EndReason.REVOKED,
    SessionStatus.LOGGED_OUT: EndReason.LOGGED_OUT,
    SessionStatus.EXPIRED: EndReason.EXPIRED,
}
ACTIVE = SessionStatus.ACTIVE
# The listing of a session known from what the watch's lease holder published (another
# replica's polls): not yet met on a page here, so no page's span can judge it gone.
UNPLACED = -1


def reason_of(status: SessionStatus) -> EndReason:
    """Why a session that now shows `status` ended (PENDING again: it is not listed as live)."""
    return _REASONS.get(status, EndReason.DISAPPEARED)


def _digest(record: SessionRecord) -> int:
    """What makes an UPDATED event; counters, metadata and the like are volatile noise."""
    return hash((record.expires_at, record.last_seen_at, record.factors))


def _instant(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class Entry:
    """One watched session: about 400 bytes with its index and heap items (docs/live.md)."""

    __slots__ = ("created", "digest", "expires", "status", "stream", "user")

    def __init__(
        self,
        created: float,
        stream: int,
        status: SessionStatus,
        expires: float | None,
        digest: int,
        user: str | None,
    ) -> None:
        self.created = created
        self.stream = stream
        self.status = status
        self.expires = expires
        self.digest = digest
        self.user = user


@dataclass(slots=True)
class StreamState:
    """Where the detection of one listing stands."""

    index: int
    baseline: float | None = None  # newest creation instant of the first read; None before it
    high: float = -math.inf  # newest creation instant seen
    sweep: Token | None = None  # where the sweep goes on; None: it starts a new round
    last: str | None = None  # the last session the sweep read (offset pages overlap by one)
    floor: float = math.inf  # the creation instant of that session
    updated: float | None = None  # newest update instant of the listing's "recent" order


class Tracker:
    """One provider's sessions as a watch knows them."""

    def __init__(self, provider: Provider, keep: int) -> None:
        self.provider = provider
        self.keep = keep
        self.entries: dict[str, Entry] = {}
        # Creation-ordered index of `entries`: instants and native ids side by side.
        self._instants: list[float] = []
        self._ids: list[str] = []
        self._expiry: list[tuple[float, str]] = []  # (expiry instant, native id), lazily pruned
        self.records: dict[str, SessionRecord] = {}  # the newest `keep`, in full
        self._floor = -math.inf  # creation instant below which records are not kept
        self.streams: dict[str, StreamState] = {}
        self.sweeping = 0  # the listing the sweep reads now (round robin)
        self.rounds = 0  # sweeps of every listing completed
        # Newest creation instant of what was published (see `learn`): a listing first read
        # by this tracker announces what is newer as CREATED, like a later read.
        self.published = -math.inf

    def stream(self, key: str) -> StreamState:
        state = self.streams.get(key)
        if state is None:
            state = self.streams[key] = StreamState(len(self.streams))
            if self.published > -math.inf:
                state.baseline = state.high = self.published
        return state

    # -- what another replica published

    def learn(self, record: SessionRecord) -> None:
        """Know `record` as the lease holder published it (its state, or an event's record)."""
        native = record.native_id
        created = record.created_at.timestamp()
        expires = _instant(record.expires_at)
        self.published = max(self.published, created)
        entry = self.entries.get(native)
        if entry is None:
            self._add(native, UNPLACED, record, created, expires)
            return
        moved = expires != entry.expires or entry.status is not ACTIVE
        if record.status is ACTIVE and expires is not None and moved:
            heapq.heappush(self._expiry, (expires, native))
        entry.status, entry.expires, entry.digest = record.status, expires, _digest(record)
        self._remember(record, entry.created)

    def follow(self, change: SessionChange) -> None:
        """Apply a change the lease holder published, as its own tracker did."""
        if change.record is not None:
            self.learn(change.record)
            return
        try:
            _, _, native = ids.decode(change.global_id)
        except BadUserInput:
            return  # not an id this gateway made: nothing here to forget
        if native in self.entries:
            self._remove(native)

    def _ended(
        self, native: str, now: datetime, record: SessionRecord | None, reason: EndReason
    ) -> SessionChange:
        """An ENDED change of this provider's session `native`."""
        return SessionChange(
            EventKind.ENDED,
            self.provider,
            _global_id(self.provider, native),
            now,
            record,
            reason=reason,
        )

    def unplaced(self, now: datetime) -> list[SessionChange]:
        """After a whole sweep: published sessions no listing holds any more are gone."""
        gone = [n for n, e in self.entries.items() if e.stream == UNPLACED]
        changes: list[SessionChange] = []
        for native in gone:
            if self._remove(native).status is ACTIVE:
                changes.append(self._ended(native, now, None, EndReason.DISAPPEARED))
        return changes

    # -- reading pages

    def observe(
        self,
        state: StreamState,
        items: Sequence[SessionRecord],
        now: datetime,
        span: tuple[float, float],
        predicate: Predicate | None,
    ) -> list[SessionChange]:
        """The changes `items` (one page of `state`'s listing) show; known sessions of that
        listing created strictly inside `span` (low, high) and not on the page are gone."""
        changes: list[SessionChange] = []
        clock = now.timestamp()
        baseline = state.baseline
        seen: set[str] = set()
        for record in items:
            native = record.native_id
            seen.add(native)
            if record.provider is not self.provider:
                continue
            expires = _instant(record.expires_at)
            if record.status is ACTIVE and expires is not None and expires <= clock:
                record = replace(record, status=SessionStatus.EXPIRED)
            entry = self.entries.get(native)
            matches = predicate is None or predicate(record)
            if entry is None:
                if not matches:
                    continue
                created = record.created_at.timestamp()
                self._add(native, state.index, record, created, expires)
                new = baseline is not None and created > baseline
                if new and record.status is ACTIVE:
                    changes.append(self._change(EventKind.CREATED, record, now))
                continue
            if not matches:
                self._remove(native)
                if entry.status is ACTIVE:
                    reason = reason_of(record.status)
                    changes.append(self._change(EventKind.ENDED, record, now, reason))
                continue
            if entry.stream == UNPLACED:
                entry.stream = state.index
            kind = _transition(entry, record)
            digest = _digest(record)
            moved = expires != entry.expires or entry.status is not ACTIVE
            if record.status is ACTIVE and expires is not None and moved:
                heapq.heappush(self._expiry, (expires, native))
            entry.status, entry.expires, entry.digest = record.status, expires, digest
            self._remember(record, entry.created)
            if kind is not None:
                why = reason_of(record.status) if kind is EventKind.ENDED else None
                changes.append(self._change(kind, record, now, why))
        low, high = span
        start = bisect.bisect_right(self._instants, low)
        stop = bisect.bisect_left(self._instants, high)
        gone = [
            native
            for native in self._ids[start:stop]
            if native not in seen and self.entries[native].stream == state.index
        ]
        for native in gone:
            entry = self._remove(native)
            if entry.status is ACTIVE:
                changes.append(self._ended(native, now, None, EndReason.DISAPPEARED))
        if items:
            newest = items[0].created_at.timestamp()
            state.high = max(state.high, newest)
            if baseline is None:
                state.baseline = newest
        elif baseline is None:
            state.baseline = -math.inf
        self._prune_heap()
        return changes

    def expire(self, now: datetime) -> list[SessionChange]:
        """Sessions whose expiry has passed, ENDED as EXPIRED without asking anyone."""
        clock = now.timestamp()
        changes: list[SessionChange] = []
        while self._expiry and self._expiry[0][0] <= clock:
            expires, native = heapq.heappop(self._expiry)
            entry = self.entries.get(native)
            if entry is None or entry.status is not ACTIVE or entry.expires != expires:
                continue
            entry.status = SessionStatus.EXPIRED
            record = self.records.get(native)
            if record is not None:
                record = self.records[native] = replace(record, status=SessionStatus.EXPIRED)
            changes.append(self._ended(native, now, record, EndReason.EXPIRED))
        return changes

    def revoked(
        self, native_ids: Iterable[str], user_id: str | None, now: datetime, status: SessionStatus
    ) -> list[SessionChange]:
        """Sessions ended through this gateway: by id, or every one of `user_id`."""
        ids = set(native_ids)
        found = [n for n in ids if n in self.entries]
        if user_id:
            found += [n for n, e in self.entries.items() if e.user == user_id and n not in ids]
        changes: list[SessionChange] = []
        for native in found:
            entry = self.entries[native]
            if entry.status is not ACTIVE:
                continue
            entry.status = status
            record = self.records.get(native)
            if record is not None:
                record = self.records[native] = replace(record, status=status)
            changes.append(self._ended(native, now, record, EndReason.REVOKED))
        return changes

    def initial(self) -> tuple[list[SessionRecord], int]:
        """The active sessions kept in full, and how many active ones are watched in all."""
        active = sum(1 for e in self.entries.values() if e.status is ACTIVE)
        kept = [
            r
            for n, r in self.records.items()
            if r.status is ACTIVE and self.entries[n].status is ACTIVE
        ]
        return kept, active

    # -- the index

    def _change(
        self,
        kind: EventKind,
        record: SessionRecord,
        now: datetime,
        reason: EndReason | None = None,
    ) -> SessionChange:
        return SessionChange(kind, record.provider, record.global_id, now, record, reason=reason)

    def _add(
        self,
        native: str,
        stream: int,
        record: SessionRecord,
        created: float,
        expires: float | None,
    ) -> None:
        user = record.user.native_id if record.user is not None else None
        native = sys.intern(native)
        entry = Entry(
            created,
            stream,
            record.status,
            expires,
            _digest(record),
            sys.intern(user) if user is not None else None,
        )
        self.entries[native] = entry
        at = bisect.bisect_right(self._instants, created)
        self._instants.insert(at, created)
        self._ids.insert(at, native)
        if expires is not None and record.status is ACTIVE:
            heapq.heappush(self._expiry, (expires, native))
        self._remember(record, created)

    def _remove(self, native: str) -> Entry:
        entry = self.entries.pop(native)
        at = bisect.bisect_left(self._instants, entry.created)
        while self._ids[at] != native:
            at += 1
        del self._instants[at]
        del self._ids[at]
        self.records.pop(native, None)
        return entry

    def _remember(self, record: SessionRecord, created: float) -> None:
        """Keep `record` in full if it is among the newest `keep` (or already kept)."""
        records = self.records
        native = record.native_id
        if native not in records and len(records) >= self.keep and created < self._floor:
            return
        records[native] = record
        if len(records) > self.keep + self.keep // 4:
            newest = sorted(records.values(), key=lambda r: r.sort_key, reverse=True)
            self.records = {r.native_id: r for r in newest[: self.keep]}
            self._floor = newest[self.keep - 1].created_at.timestamp()

    def _prune_heap(self) -> None:
        """Expiries that were moved leave stale heap items: rebuild when they dominate."""
        if len(self._expiry) > 2 * len(self.entries) + 64:
            self._expiry = [
                (e.expires, n)
                for n, e in self.entries.items()
                if e.expires is not None and e.status is ACTIVE
            ]
            heapq.heapify(self._expiry)


def _transition(before: Entry, after: SessionRecord) -> EventKind | None:
    active = after.status is ACTIVE
    if before.status is not ACTIVE:
        # Back from an ended state, or PENDING until now: only an active session is announced.
        return EventKind.CREATED if active else None
    if not active:
        return EventKind.ENDED
    return EventKind.UPDATED if _digest(after) != before.digest else None


def _global_id(provider: Provider, native: str) -> str:
    return ids.encode(ids.SESSION, provider, native)
