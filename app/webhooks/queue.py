"""Per-endpoint queues of webhook messages: in Redis streams (durable, shared by replicas) or in
the process.

In Redis, each endpoint has a stream and one consumer group. One replica at a time delivers an
endpoint: it holds a lease (a key with a TTL it renews), reads new entries as the group's
consumer and acknowledges (and deletes) each entry once delivered or given up on. A replica that
takes the lease over first claims every entry another consumer read but never acknowledged, so
a replica that stopped mid-delivery loses nothing (the receiver may see those again: delivery is
at least once). One deliverer per endpoint is what keeps a session's messages in order.

Replicas that each see the same change put the same message id: a key per id (kept for the
retry window) lets only the first in. When Redis is unreachable, messages wait in the process
(bounded by the queue size) and are written when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import ResponseError

from app.state.shared import ERRORS, Shared
from app.webhooks.message import Message

log = logging.getLogger("session_gateway.webhooks")

PREFIX = "gateway:webhooks"
GROUP = "deliver"
# A lease outlives its holder by this long at most; it is renewed three times as often.
LEASE_SECONDS = 10.0
CLAIM_BATCH = 1000

# KEYS: stream, the message id's key. ARGV: bound, seconds to keep the id, then the fields.
PUT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return 1
"""
# KEYS: lease. ARGV: holder, milliseconds. Extends the lease only if the caller holds it.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Put:
    ADDED = 1
    DUPLICATE = 0
    FULL = -1


@dataclass(frozen=True, slots=True)
class Entry:
    """A message taken from a queue; `ref` tells the queue which one is done."""

    ref: str
    message: Message


class Queue(Protocol):
    durable: bool

    async def put(self, message: Message) -> int: ...

    async def lead(self) -> int:
        """A number that changes whenever this process (re)gains the right to deliver; 0 while
        another replica delivers. Entries taken under an earlier number are not this
        process's any more."""
        ...

    async def take(self, count: int) -> list[Entry]: ...

    async def done(self, entry: Entry) -> None: ...

    async def depth(self) -> int: ...

    async def disabled(self) -> bool:
        """Whether a 410 disabled the endpoint as it is configured now (a replica's, or an
        earlier process's); False when nobody recorded one or the record is unreadable."""
        ...

    async def disable(self) -> None:
        """Record that the endpoint answered 410, for replicas and later processes."""
        ...

    async def close(self) -> None: ...


class MemoryQueue:
    """The process's own queue: bounded, lost when the process stops."""

    durable = False

    def __init__(self, bound: int, wake: asyncio.Event) -> None:
        self._bound = bound
        self._wake = wake
        self._items: deque[Entry] = deque()
        self._taken = 0
        self._count = 0
        # Ids recently queued: a resubscribed watch may show a change again.
        self._recent: OrderedDict[str, None] = OrderedDict()

    async def put(self, message: Message) -> int:
        if message.id in self._recent:
            return Put.DUPLICATE
        if len(self._items) + self._taken >= self._bound:
            return Put.FULL
        self._recent[message.id] = None
        if len(self._recent) > 2 * self._bound:
            self._recent.popitem(last=False)
        self._count += 1
        self._items.append(Entry(str(self._count), message))
        self._wake.set()
        return Put.ADDED

    async def lead(self) -> int:
        return 1

    async def take(self, count: int) -> list[Entry]:
        taken = [self._items.popleft() for _ in range(min(count, len(self._items)))]
        self._taken += len(taken)
        return taken

    async def done(self, entry: Entry) -> None:
        self._taken -= 1

    async def depth(self) -> int:
        return len(self._items) + self._taken

    async def disabled(self) -> bool:
        return False  # the process's own flag is all there is: a restart enables it again

    async def disable(self) -> None:
        pass

    async def close(self) -> None:
        pass


class RedisQueue:
    """An endpoint's Redis stream; see the module docstring."""

    durable = True

    def __init__(
        self,
        shared: Shared,
        key: str,
        bound: int,
        keep: float,
        wake: asyncio.Event,
        identity: str = "",
    ) -> None:
        assert shared.client is not None
        self._shared = shared
        self._client = shared.client
        self._stream = f"{PREFIX}:{key}:stream"
        self._seen = f"{PREFIX}:{key}:seen:"
        self._lease = f"{PREFIX}:{key}:lease"
        # Set by a 410 to the endpoint's identity (URL and secret digest), kept until deleted.
        self._disabled = f"{PREFIX}:{key}:disabled"
        self._identity = identity
        self._bound = bound
        self._keep = max(int(keep), 1)
        self._wake = wake
        self._me = secrets.token_hex(8)  # this process's consumer name and lease value
        self._put = self._client.register_script(PUT)
        self._renew = self._client.register_script(RENEW)
        self._release = self._client.register_script(RELEASE)
        self._held = False  # this process holds the lease
        self._won = 0  # leases won so far: entries taken under an earlier one are stale
        self._renew_at = 0.0
        self._pending_from: str | None = None  # reading claimed entries from this id, then new
        self._group_made = False
        # Messages Redis could not take (unreachable): written, in order, when it answers.
        self._outbox: deque[Message] = deque()

    async def put(self, message: Message) -> int:
        if self._outbox and self._shared.available():
            await self.flush()
        if not self._outbox and self._shared.available():
            try:
                return await self._write(message)
            except ERRORS as exc:
                self._shared.failed("webhooks", exc)
        if len(self._outbox) >= self._bound:
            return Put.FULL
        if not self._outbox:
            log.error(
                "Redis is unreachable: webhook messages wait in this process (up to %d per "
                "endpoint) until it answers again.",
                self._bound,
            )
        self._outbox.append(message)
        return Put.ADDED

    async def _write(self, message: Message) -> int:
        args: list[str | bytes | int] = [self._bound, self._keep]
        for name, value in message.fields().items():
            args += [name, value]
        added = int(await self._put(keys=[self._stream, self._seen + message.id], args=args))
        self._shared.succeeded()
        if added == Put.ADDED:
            self._wake.set()
        return added

    async def flush(self) -> None:
        """Write what waited in the process while Redis was away (failures keep it waiting)."""
        while self._outbox:
            try:
                await self._write(self._outbox[0])
            except ERRORS as exc:
                self._shared.failed("webhooks", exc)
                return
            self._outbox.popleft()
        log.warning("Redis answers again: webhook messages held in this process are queued.")

    async def lead(self) -> int:
        loop = asyncio.get_running_loop()
        if not self._shared.available():
            # Nobody can take the lease over while Redis is away: go on with what is held.
            return self._won if self._held else 0
        if self._outbox:
            await self.flush()
        try:
            await self._make_group()
            if self._held and loop.time() < self._renew_at:
                return self._won
            ms = int(LEASE_SECONDS * 1000)
            if self._held and await self._renew(keys=[self._lease], args=[self._me, ms]):
                self._renew_at = loop.time() + LEASE_SECONDS / 3
                return self._won
            self._held = False
            if await self._client.set(self._lease, self._me, nx=True, px=ms):
                await self._claim()
                self._held = True
                self._won += 1
                self._renew_at = loop.time() + LEASE_SECONDS / 3
                return self._won
        except ERRORS as exc:
            self._shared.failed("webhooks", exc)
            # Nobody can take the lease over while Redis is away: go on with what is held.
            return self._won if self._held else 0
        return 0

    async def _make_group(self) -> None:
        if self._group_made:
            return
        try:
            await self._client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_made = True

    async def _claim(self) -> None:
        """Take over every entry read but not acknowledged by any consumer (this one's too)."""
        start = "0-0"
        while True:
            # Not JUSTID: redis-py then drops the cursor from the answer.
            answer = await self._client.xautoclaim(
                self._stream, GROUP, self._me, 0, start, count=CLAIM_BATCH
            )
            start = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
            if start == "0-0":
                break
        self._pending_from = "0"

    async def take(self, count: int) -> list[Entry]:
        if not self._shared.available():
            return []
        try:
            if self._pending_from is not None:
                entries = await self._read(self._pending_from, count)
                if entries:
                    self._pending_from = entries[-1].ref
                    return entries
                self._pending_from = None
            return await self._read(">", count)
        except ERRORS as exc:
            if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                self._group_made = False  # a Redis that lost its data: made again next time
            self._shared.failed("webhooks", exc)
            return []

    async def _read(self, start: str, count: int) -> list[Entry]:
        answer = await self._client.xreadgroup(GROUP, self._me, {self._stream: start}, count=count)
        entries: list[Entry] = []
        for _, items in answer or []:
            for ref, fields in items:
                ref = ref.decode()
                if not fields:  # deleted after it was read: nothing left to deliver
                    await self._client.xack(self._stream, GROUP, ref)
                    continue
                entries.append(Entry(ref, Message.of_fields(fields)))
        if start != ">" and not entries and answer and answer[0][1]:
            # Only deleted entries in this batch: the caller reads on from past them.
            self._pending_from = answer[0][1][-1][0].decode()
            return await self._read(self._pending_from, count)
        return entries

    async def done(self, entry: Entry) -> None:
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, GROUP, entry.ref)
                pipe.xdel(self._stream, entry.ref)
                await pipe.execute()
        except ERRORS as exc:
            # Left pending: the next replica to take the lease delivers it again.
            self._shared.failed("webhooks", exc)

    async def depth(self) -> int:
        if not self._shared.available():
            return len(self._outbox)
        try:
            return int(await self._client.xlen(self._stream)) + len(self._outbox)
        except ERRORS as exc:
            self._shared.failed("webhooks", exc)
            return len(self._outbox)

    async def disabled(self) -> bool:
        if not self._shared.available():
            return False
        try:
            found = await self._client.get(self._disabled)
        except ERRORS as exc:
            self._shared.failed("webhooks", exc)
            return False
        self._shared.succeeded()
        return found is not None and found.decode() == self._identity

    async def disable(self) -> None:
        try:
            await self._client.set(self._disabled, self._identity)
        except ERRORS as exc:
            # Disabled in this process all the same; a restart would try the endpoint again.
            self._shared.failed("webhooks", exc)

    async def close(self) -> None:
        """Give the lease up, so another replica (or the next process) delivers at once."""
        if not self._held:
            return
        self._held = False
        try:
            await self._release(keys=[self._lease], args=[self._me])
        except ERRORS as exc:
            self._shared.failed("webhooks", exc)
