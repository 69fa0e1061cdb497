"""Response cache: complete query answers, per caller visibility, shared by replicas via Redis.

Off unless GATEWAY_RESPONSE_CACHE_TTL is set. The key is a digest of what decides an answer:
the caller's visibility (every session, or only those of its users: see Principal), the
credentials it forwards to upstreams that take the caller's own, the document, its variables
and operation name. Only complete answers are stored: a query (never a mutation) answered with
no error at all, so no partial result either.

Each entry is tagged with the sessions and users whose global ids appear in it. A revoke made
through any replica (app/upstream/revocations.py) deletes the entries tagged with its sessions or
user, and with the sessions the provider ended along with it (PrivX: the child sessions); with Redis
the entries and tag sets live there, so one delete purges them for every replica. When the
provider did not say which sessions a revoke ended, every entry holding a session of that
provider goes. If Redis is unreachable, the cache is skipped (fail open); while it is full
(refusing writes at maxmemory), answers are read but none is stored.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from app.auth.principal import Principal
from app.core import ids
from app.core.errors import BadUserInput
from app.observability.metrics import Metrics
from app.state.shared import ERRORS, Shared
from app.upstream.revocations import Revoked

PREFIX = "gateway:rc:"
TAG_PREFIX = "gateway:rct:"
# What is kept per process without Redis (least recently used out): entries and their bytes.
MAX_LOCAL_ENTRIES = 10_000
MAX_LOCAL_BYTES = 64 * 1024 * 1024
# Larger answers (a full page of 100 sessions is about 200 KB) are not stored at all.
MAX_ENTRY_BYTES = 1024 * 1024


def scope_of(principal: Principal, forwarded: Iterable[str]) -> str:
    """What the caller may see: everything, or its own users; plus the sessions its token is
    for and the credentials it forwards."""
    if principal.reads_all:
        scope = "all"
    else:
        scope = "users:" + ",".join(sorted(f"{p.value}:{n}" for p, n in principal.users))
    if principal.sessions:
        # Which session is `current` is the caller's own: a digest, like credentials.
        named = "\0".join(sorted(f"{p.value}:{n}" for p, n in principal.sessions))
        scope += "|sid:" + hashlib.sha256(named.encode()).hexdigest()
    forwarded = list(forwarded)
    if forwarded:
        # Upstreams that use the caller's own credential may show each credential other data.
        scope += "|fwd:" + hashlib.sha256("\0".join(forwarded).encode()).hexdigest()
    return scope


def key_of(
    scope: str, query: str, variables: Mapping[str, Any] | None, operation_name: str | None
) -> str:
    """The entry's key: a digest, so no caller data is readable in Redis key names."""
    material = orjson.dumps(
        [scope, query, variables or {}, operation_name], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(material).hexdigest()


def tags_of(payload: object) -> set[str]:
    """Tags of the sessions and users whose global ids the answer holds."""
    tags: set[str] = set()
    for value in _ids(payload):
        try:
            kind, provider, native_id = ids.decode(value)
        except BadUserInput:
            continue
        tags.add(f"{kind}:{provider.value}:{native_id}")
        if kind == ids.SESSION:
            tags.add(f"P:{provider.value}")  # for revokes that did not name their sessions
    return tags


def revoked_tags(revoked: Revoked) -> set[str]:
    provider = revoked.provider.value
    tags = {f"{ids.SESSION}:{provider}:{s}" for s in revoked.session_ids}
    if revoked.user_id is not None:
        tags.add(f"{ids.USER}:{provider}:{revoked.user_id}")
    if revoked.unnamed or (revoked.user_id is not None and not revoked.session_ids):
        tags.add(f"P:{provider}")
    return tags


def _ids(payload: object) -> Iterator[str]:
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for name, item in value.items():
                if name == "id" and isinstance(item, str):
                    yield item
                elif isinstance(item, dict | list):
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, dict | list))


class ResponseCache:
    """Stored answers (JSON bytes) by key, in Redis or in this process."""

    def __init__(self, shared: Shared, ttl: float, metrics: Metrics | None = None) -> None:
        self.shared = shared
        self.ttl = ttl
        self.metrics = metrics
        self._local: OrderedDict[str, tuple[float, bytes, frozenset[str]]] = OrderedDict()
        self._tagged: dict[str, set[str]] = {}
        self._bytes = 0

    async def get(self, key: str) -> bytes | None:
        """The stored answer; None on a miss, or when Redis is away (then counted as skipped)."""
        if not self.shared.configured:
            return self._count(self._get_local(key))
        if not self.shared.available():
            self._skipped()
            return None
        assert self.shared.client is not None
        try:
            found = await self.shared.client.get(PREFIX + key)
        except ERRORS as exc:
            self.shared.failed("response_cache", exc)
            self._skipped()
            return None
        self.shared.succeeded()
        return self._count(found if isinstance(found, bytes) else None)

    async def put(self, key: str, body: bytes, tags: set[str]) -> None:
        """Store an answer and tag it; a Redis failure only means it is not stored."""
        if len(body) > MAX_ENTRY_BYTES:
            return
        if not self.shared.configured:
            self._put_local(key, body, frozenset(tags))
            return
        if not self.shared.available() or not await self.shared.writable("response_cache"):
            return
        assert self.shared.client is not None
        ttl = max(1, round(self.ttl))
        now = time.time()
        try:
            async with self.shared.client.pipeline(transaction=False) as pipe:
                pipe.set(PREFIX + key, body, ex=ttl)
                for tag in tags:
                    # Sorted by expiry: members whose entry has expired are trimmed on each add,
                    # so a busy tag (a provider's) holds only live entries; the set itself
                    # expires with its newest entry.
                    pipe.zadd(TAG_PREFIX + tag, {key: now + ttl})
                    pipe.zremrangebyscore(TAG_PREFIX + tag, "-inf", now)
                    pipe.expire(TAG_PREFIX + tag, ttl)
                await pipe.execute()
        except ERRORS as exc:
            self.shared.failed("response_cache", exc)  # full or unreachable: not stored
            return
        self.shared.wrote()

    async def purge(self, revoked: Revoked) -> None:
        """Delete the entries tagged with the revoked sessions or user (a revocation listener)."""
        tags = revoked_tags(revoked)
        if not self.shared.configured:
            for tag in tags:
                for key in self._tagged.pop(tag, set()):
                    self._drop_local(key)
            return
        assert self.shared.client is not None
        tag_keys = [TAG_PREFIX + t for t in tags]
        try:
            async with self.shared.client.pipeline(transaction=False) as pipe:
                for tag_key in tag_keys:
                    pipe.zrange(tag_key, 0, -1)
                members = await pipe.execute()
            keys = {PREFIX + k.decode() for found in members for k in found}
            if keys or tag_keys:
                await self.shared.client.delete(*keys, *tag_keys)
        except ERRORS as exc:
            # Entries missed here expire within the TTL; nothing else can be done without Redis.
            self.shared.failed("response_cache", exc)

    def _count(self, found: bytes | None) -> bytes | None:
        if self.metrics is not None:
            self.metrics.response_cache.labels("hit" if found is not None else "miss").inc()
        return found

    def _skipped(self) -> None:
        if self.metrics is not None:
            self.metrics.response_cache.labels("skipped").inc()

    def _get_local(self, key: str) -> bytes | None:
        entry = self._local.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._drop_local(key)
            return None
        self._local.move_to_end(key)
        return entry[1]

    def _put_local(self, key: str, body: bytes, tags: frozenset[str]) -> None:
        self._drop_local(key)
        self._local[key] = (time.monotonic() + self.ttl, body, tags)
        self._bytes += len(body)
        for tag in tags:
            self._tagged.setdefault(tag, set()).add(key)
        while len(self._local) > MAX_LOCAL_ENTRIES or self._bytes > MAX_LOCAL_BYTES:
            self._drop_local(next(iter(self._local)))

    def _drop_local(self, key: str) -> None:
        entry = self._local.pop(key, None)
        if entry is None:
            return
        self._bytes -= len(entry[1])
        for tag in entry[2]:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]
