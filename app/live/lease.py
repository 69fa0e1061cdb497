"""Which replica polls a watch: a lease in Redis, renewed by its holder, taken when it lapses.

The lease is one key holding the holder's replica id with a time to live. The holder renews it
well inside that time; the others try to take it at the same pace, so a holder that died is
replaced once its lease has run out. Renewing and taking are one script: the key is set when it
is absent or already ours, never over another replica's.

While Redis is unreachable nothing can be renewed or taken: the holder keeps polling (its
subscribers' events wait in its outbox, see app/live/bus.py) and the others keep waiting.
"""

from __future__ import annotations

from app.state.shared import ERRORS, Shared

_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """One replica's view of one watch's lease."""

    def __init__(self, shared: Shared, key: str, owner: str, ttl: float) -> None:
        assert shared.client is not None
        self._shared, self.key, self.owner = shared, key, owner
        self._ttl_ms = max(int(ttl * 1000), 1)
        self._hold = shared.client.register_script(_HOLD)
        self._release = shared.client.register_script(_RELEASE)
        self.held = False

    async def hold(self) -> bool:
        """Renew the lease if this replica holds it, else take it if it is free; whether held.

        When Redis does not answer, what this replica had stays as it was.
        """
        if not self._shared.available():
            return self.held
        try:
            got = await self._hold(keys=[self.key], args=[self.owner, self._ttl_ms])
        except ERRORS as exc:
            self._shared.failed("live", exc)
            return self.held
        self._shared.succeeded()
        self.held = bool(got)
        return self.held

    async def release(self) -> None:
        """Give the lease up (the watch stopped here), so another replica need not wait it out."""
        was, self.held = self.held, False
        if not was or not self._shared.available():
            return
        try:
            await self._release(keys=[self.key], args=[self.owner])
        except ERRORS as exc:
            self._shared.failed("live", exc)
