"""The event bus replicas share through Redis: one stream of changes per watch.

Per watch (its id is a digest of the filter and the forwarded credentials' digest):

- `…:events`, a stream of the watch's changes, capped at GATEWAY_SUBSCRIPTION_REPLAY entries.
  Entry ids are `<sequence>-0`, the sequence from one counter every replica shares, so an
  event's cursor means the same on every replica; `…` `epoch` names the counter's lifetime
  (a Redis that lost its data starts a new one, and older cursors are known stale).
- `…:state`, a hash of global session id → the record as subscribers were last told of it:
  the snapshot a replica starts from when it joins the watch or takes its lease over.
- `…:since`, the sequence when the watch began (older cursors cannot be replayed).

A poll's changes, with the state they leave, go in with one script that first checks that the
publisher still holds the watch's lease (`fenced`): a replica that lost it, to an outage or a
stall, publishes nothing, and the holder after it finds the same changes itself. Changes made
through the gateway (revocations) are published by whichever replica made them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

import redis.asyncio as redis

from app.listing.filter import SessionFilter
from app.state.shared import Shared

PREFIX = "gateway:live:"
EPOCH = PREFIX + "epoch"
SEQUENCE = PREFIX + "sequence"
POLLED = "~polled"  # POLLED:<provider>, a state field: the holder polled that provider

# KEYS: lease, sequence, stream, state, epoch, since
# ARGV: owner, fenced, maxlen, ttl ms, lease ttl ms, fresh epoch, then groups of four:
#   entry field ('' for none), entry body, state field ('' for none), state value ('' deletes)
_PUBLISH = """
if ARGV[2] == '1' then
  local holder = redis.call('GET', KEYS[1])
  if holder and holder ~= ARGV[1] then
    return false
  end
  if not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
  end
end
local epoch = redis.call('GET', KEYS[5])
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[5], epoch)
end
local out = {epoch}
for i = 7, #ARGV, 4 do
  if ARGV[i] ~= '' then
    local seq = redis.call('INCR', KEYS[2])
    redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], seq .. '-0', ARGV[i], ARGV[i + 1],
               'o', ARGV[1])
    out[#out + 1] = seq
  end
  if ARGV[i + 2] ~= '' then
    if ARGV[i + 3] == '' then
      redis.call('HDEL', KEYS[4], ARGV[i + 2])
    else
      redis.call('HSET', KEYS[4], ARGV[i + 2], ARGV[i + 3])
    end
  end
end
for _, key in ipairs({KEYS[3], KEYS[4], KEYS[6]}) do
  redis.call('PEXPIRE', key, ARGV[4])
end
return out
"""

# KEYS: sequence, epoch, since, stream, state; ARGV: fresh epoch, replay count, ttl ms
_JOIN = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local current = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[3], current, 'NX', 'PX', ARGV[3])
local since = redis.call('GET', KEYS[3])
local entries = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', ARGV[2])
return {epoch, since, entries, redis.call('HGETALL', KEYS[5])}
"""


def watch_id(session_filter: SessionFilter, credentials: str) -> str:
    """The same watch's id on every replica (`credentials` is already a digest)."""
    text = f"{session_filter.fingerprint()}\n{credentials}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: a change (`change`), a poll's problem (`problem`), a first poll done
    (`baseline`), or events a replica could not publish (`lost`, how many)."""

    sequence: int
    origin: str
    change: bytes | None = None
    baseline: bool = False
    lost: int = 0
    problem: bytes | None = None


@dataclass(slots=True)
class Joined:
    """What a replica starts a watch with: the stream's tail and the state it left."""

    epoch: str
    since: int
    entries: list[Entry]  # oldest first
    state: dict[str, bytes] = field(default_factory=dict)  # POLLED:<provider> fields too


@dataclass(slots=True)
class Outgoing:
    """What one publish writes: stream entries and state changes, in order."""

    groups: list[tuple[str, bytes, str, bytes]] = field(default_factory=list)

    def change(self, body: bytes, global_id: str, record: bytes | None) -> None:
        self.groups.append(("c", body, global_id, record or b""))

    def state(self, global_id: str, record: bytes) -> None:
        self.groups.append(("", b"", global_id, record))

    def baseline(self, provider: str) -> None:
        """The holder's first poll of `provider` is in the state (the records before this)."""
        self.groups.append(("b", provider.encode(), f"{POLLED}:{provider}", b"1"))

    def problem(self, body: bytes) -> None:
        self.groups.append(("p", body, "", b""))

    def lost(self, count: int) -> None:
        self.groups.append(("g", str(count).encode(), "", b""))


class Bus:
    """The Redis side of replicated watches: join, publish, read."""

    def __init__(self, shared: Shared, owner: str, replay: int, ttl: float, block: float) -> None:
        assert shared.client is not None
        assert shared.url is not None
        self.shared, self.owner, self.replay = shared, owner, replay
        self._ttl_ms = max(int(ttl * 1000), 1000)
        self.block = block
        client = shared.client
        self._publish = client.register_script(_PUBLISH)
        self._join = client.register_script(_JOIN)
        timeout = shared.pool.connection_kwargs.get("socket_timeout") if shared.pool else None
        # Blocking reads wait longer than the shared client's timeout allows: their own client.
        self._reader = redis.Redis.from_url(
            shared.url,
            socket_timeout=block + (timeout or 1.0),
            socket_connect_timeout=timeout or 1.0,
        )

    @staticmethod
    def key(wid: str, part: str) -> str:
        return f"{PREFIX}{wid}:{part}"

    async def join(self, wid: str) -> Joined:
        """The watch as Redis has it; raises one of ERRORS when Redis does not answer."""
        keys = [SEQUENCE, EPOCH, self.key(wid, "since"), self.key(wid, "events")]
        keys.append(self.key(wid, "state"))
        epoch, since, raw, state = await self._join(
            keys=keys, args=[secrets.token_hex(4), self.replay, self._ttl_ms]
        )
        entries = [_entry(id_, fields) for id_, fields in reversed(raw)]
        found = {k.decode(): v for k, v in zip(state[::2], state[1::2], strict=True)}
        return Joined(epoch.decode(), int(since), entries, found)

    async def epoch(self) -> str:
        """The epoch of the shared sequence (made now when Redis has none)."""
        assert self.shared.client is not None
        await self.shared.client.set(EPOCH, secrets.token_hex(4), nx=True)
        value = await self.shared.client.get(EPOCH)
        return value.decode() if isinstance(value, bytes) else str(value)

    async def publish(
        self, wid: str, outgoing: Outgoing, *, fenced: bool, lease: str, lease_ttl: float
    ) -> tuple[str, list[int]] | None:
        """Write `outgoing`; (epoch, the sequences of its entries), or None when `fenced` and
        another replica holds the lease. Raises one of ERRORS when Redis does not answer."""
        keys = [lease, SEQUENCE, self.key(wid, "events"), self.key(wid, "state"), EPOCH]
        keys.append(self.key(wid, "since"))
        args: list[str | bytes | int] = [
            self.owner,
            "1" if fenced else "0",
            self.replay,
            self._ttl_ms,
            max(int(lease_ttl * 1000), 1),
            secrets.token_hex(4),
        ]
        for group in outgoing.groups:
            args.extend(group)
        result = await self._publish(keys=keys, args=args)
        if result is None:
            return None
        return result[0].decode(), [int(s) for s in result[1:]]

    async def read(self, after: dict[str, int]) -> list[tuple[str, Entry]]:
        """Entries after each watch's last sequence, waiting up to `block` seconds for one."""
        streams: dict[bytes | str | memoryview[int], int | bytes | str | memoryview[int]] = {
            self.key(wid, "events"): f"{sequence}-0" for wid, sequence in after.items()
        }
        answer = await self._reader.xread(streams, block=max(int(self.block * 1000), 1))
        found: list[tuple[str, Entry]] = []
        for name, entries in answer or []:
            wid = name.decode().removeprefix(PREFIX).rsplit(":", 1)[0]
            found.extend((wid, _entry(id_, fields)) for id_, fields in entries)
        return found

    async def read_now(self, wid: str, after: int) -> list[Entry]:
        """Entries after `after`, without waiting (a new lease holder catching up)."""
        assert self.shared.client is not None
        raw = await self.shared.client.xrange(self.key(wid, "events"), f"({after}-0", "+")
        return [_entry(id_, fields) for id_, fields in raw]

    async def close(self) -> None:
        await self._reader.aclose()


def _entry(id_: bytes, fields: dict[bytes, bytes] | list[bytes]) -> Entry:
    if isinstance(fields, list):  # as a script returns them: name, value, name, value, ...
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    sequence = int(id_.split(b"-", 1)[0])
    origin = fields.get(b"o", b"").decode()
    if b"c" in fields:
        return Entry(sequence, origin, change=fields[b"c"])
    if b"p" in fields:
        return Entry(sequence, origin, problem=fields[b"p"])
    if b"g" in fields:
        return Entry(sequence, origin, lost=int(fields[b"g"]))
    return Entry(sequence, origin, baseline=b"b" in fields)
