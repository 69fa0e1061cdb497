"""Trusted documents and automatic persisted queries (APQ).

GATEWAY_PERSISTED_DOCUMENTS names a file of trusted documents: an Apollo persisted-query
manifest (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, ...]}`)
or a map `{"sha256:<hash>": "<document>"}` (there the hash must be the document's). Each is
parsed and validated against the schema at start-up; a bad one stops start-up, named.

A request names a document by `documentId` (GraphQL over HTTP), or by APQ's
`extensions.persistedQuery.sha256Hash`. APQ's second step (hash and query) registers the
document, shared through Redis when configured: only for authenticated callers, only up to
`max_bytes`, and only once the hash is checked to be the query's. What registration may hold
is bounded: each caller registers at most GATEWAY_APQ_REGISTRATIONS new documents per window,
and the store keeps at most GATEWAY_APQ_MAX_DOCUMENTS (the oldest registration goes first).
A document that is not kept (over a bound, too large, Redis full or unreachable) still runs;
its answer says why in `extensions.persistedQuery`, and its hash stays unknown.

GATEWAY_PERSISTED_DOCUMENTS_MODE: `off` (ids and APQ refused as not supported), `allow` (ids,
APQ and arbitrary documents) or `require` (arbitrary documents, registration included, only for
keys with the scope `documents:any`; a document that is a trusted one by content is accepted).
In `require` mode a registered document is found by id or hash only for `documents:any`
callers: for the others it is an arbitrary document like any other.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from graphql import GraphQLError, GraphQLSchema, parse, validate
from limits import RateLimitItem
from strawberry.http import GraphQLRequestData

from app.auth.principal import DOCUMENTS_ANY, Principal
from app.core.errors import ConfigError
from app.observability.metrics import Metrics
from app.state.shared import ERRORS, Shared, is_full

Mode = Literal["off", "allow", "require"]
PREFIX = "gateway:apq:"
# Registered digests by registration time (for the total bound), and per-caller counters.
INDEX_KEY = "gateway:apqi"
COUNTER_PREFIX = "gateway:apqn:"
# A registered document is kept this long after registration (a client re-registers after).
APQ_TTL_SECONDS = 24 * 3600
# Per-caller windows kept in the process before expired ones are dropped.
_MAX_LOCAL_CALLERS = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# Why this request's APQ registration was not kept (None: kept, or nothing to register), for
# the answer's `extensions.persistedQuery` (app/http/view.py); the response cache skips such
# answers.
NOT_KEPT: ContextVar[dict[str, object] | None] = ContextVar("apq_not_kept", default=None)

# One atomic registration in Redis. KEYS: the document, INDEX_KEY, the caller's counter.
# ARGV: digest, document, TTL, now, GATEWAY_APQ_MAX_DOCUMENTS, the caller's allowance, its
# window in seconds, PREFIX. Answers {1, 1} registered, {1, 0} known already (kept longer, not
# counted), {0, seconds} over the caller's allowance until its window ends. The SET comes
# before any other write that may grow memory: a full Redis refuses it (OOM) with nothing
# changed. The oldest registrations over the bound are deleted (keys named here, not in KEYS:
# the gateway uses one Redis, not a cluster).
_REGISTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  return {1, 0}
end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
if used >= tonumber(ARGV[6]) then
  return {0, redis.call('TTL', KEYS[3])}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if redis.call('INCR', KEYS[3]) == 1 then
  redis.call('EXPIRE', KEYS[3], ARGV[7])
end
local now = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    redis.call('DEL', ARGV[8] .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, 1}
"""


REQUIRED_MESSAGE = (
    "This gateway runs only trusted documents: send `documentId` (or an APQ hash) of a "
    f"document in its manifest; arbitrary documents need an API key with the scope {DOCUMENTS_ANY}."
)


class Refused(Exception):
    """A request refused before execution, answered as a GraphQL error with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _not_found() -> Refused:
    # Apollo's PersistedQueryLink matches this message (or the code) and resends with the query.
    return Refused(200, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")


def _not_supported() -> Refused:
    # The link stops sending hashes when it sees this message (or the code) with a 400.
    return Refused(400, "PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_manifest(path: str, schema: GraphQLSchema) -> dict[str, str]:
    """Trusted documents by bare id, each validated; ConfigError naming the first bad one."""
    where = f"GATEWAY_PERSISTED_DOCUMENTS ({path})"
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    documents: dict[str, str] = {}
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise ConfigError(f"{where}: `operations` must be a list")
        for index, operation in enumerate(operations):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ConfigError(f"{where}: operations[{index}] needs a string `id` and `body`")
            documents[_bare(operation["id"])] = operation["body"]
    elif isinstance(raw, dict):
        for key, body in raw.items():
            if not isinstance(body, str):
                raise ConfigError(f"{where}: {key!r} must map to a document string")
            if not key.startswith("sha256:") or not _SHA256.match(key[7:]):
                raise ConfigError(f"{where}: {key!r} is not an id of the form sha256:<64 hex>")
            if sha256(body) != key[7:]:
                raise ConfigError(f"{where}: {key!r} is not the SHA-256 of its document")
            documents[key[7:]] = body
    else:
        raise ConfigError(
            f"{where}: expected an Apollo persisted-query manifest or a "
            '{"sha256:<hash>": "<document>"} object'
        )
    for document_id, body in documents.items():
        problem = _problem(body, schema)
        if problem is not None:
            raise ConfigError(f"{where}: document {document_id!r} is invalid: {problem}")
    return documents


def _problem(body: str, schema: GraphQLSchema) -> str | None:
    try:
        document = parse(body)
    except GraphQLError as exc:
        return exc.message
    errors = validate(schema, document)
    return errors[0].message if errors else None


def _bare(document_id: str) -> str:
    return document_id.removeprefix("sha256:")


class PersistedDocuments:
    """Trusted documents, the APQ store and the mode: what a request's document is."""

    def __init__(
        self,
        trusted: dict[str, str],
        mode: Mode,
        shared: Shared,
        max_bytes: int,
        metrics: Metrics | None = None,
        *,
        registrations: RateLimitItem,
        max_documents: int,
    ) -> None:
        self.trusted = trusted
        self.trusted_bodies = frozenset(trusted.values())
        self.mode = mode
        self.shared = shared
        self.max_bytes = max_bytes
        self.metrics = metrics
        self.registrations = registrations  # new ones per caller per window
        self.max_documents = max_documents
        self._local: OrderedDict[str, str] = OrderedDict()  # oldest registration first
        self._windows: dict[str, tuple[float, int]] = {}  # caller -> (window end, registered)
        self._script = (
            shared.client.register_script(_REGISTER) if shared.client is not None else None
        )

    async def resolve(
        self, data: GraphQLRequestData, document_id: object, principal: Principal
    ) -> GraphQLRequestData:
        """`data` with its query filled in from its id or hash; Refused when it may not run."""
        persisted = (data.extensions or {}).get("persistedQuery")
        if document_id is not None:
            return await self._by_id(data, document_id, principal)
        if persisted is not None:
            return await self._apq(data, persisted, principal)
        if data.query is not None and not self.may_send(data.query, principal):
            raise self._count_refused()
        return data

    async def _by_id(
        self, data: GraphQLRequestData, document_id: object, principal: Principal
    ) -> GraphQLRequestData:
        if self.mode == "off":
            raise _not_supported()
        if not isinstance(document_id, str) or not document_id:
            raise Refused(400, "BAD_REQUEST", "`documentId` must be a non-empty string.")
        if data.query is not None:
            raise Refused(400, "BAD_REQUEST", "Send either `documentId` or `query`, not both.")
        query = self.trusted.get(_bare(document_id)) or await self._registered(
            _bare(document_id), principal
        )
        if query is None:
            self._mark("id_not_found")
            raise _not_found()
        self._mark("id")
        return replace(data, query=query)

    async def _apq(
        self, data: GraphQLRequestData, persisted: object, principal: Principal
    ) -> GraphQLRequestData:
        if self.mode == "off":
            raise _not_supported()
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise Refused(400, "BAD_REQUEST", "Unsupported persistedQuery version (expected 1).")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise Refused(
                400, "BAD_REQUEST", "persistedQuery.sha256Hash must be 64 lower-case hex digits."
            )
        if data.query is None:
            query = self.trusted.get(digest) or await self._registered(digest, principal)
            if query is None:
                self._mark("apq_not_found")
                raise _not_found()
            self._mark("apq_hit")
            return replace(data, query=query)
        if sha256(data.query) != digest:
            raise Refused(400, "BAD_REQUEST", "provided sha does not match query")
        if not self.may_send(data.query, principal):
            raise self._count_refused()
        if digest not in self.trusted and not principal.anonymous:
            NOT_KEPT.set(await self._register(digest, data.query, principal.caller(None)))
        return data

    async def _registered(self, digest: str, principal: Principal) -> str | None:
        """A registered document, for a caller who may run it: in `require` mode only callers
        with `documents:any` may (they are the ones who can register)."""
        if self.mode == "require" and DOCUMENTS_ANY not in principal.scopes:
            return None  # not found, as an unknown hash: no hint of what others registered
        return await self._lookup(digest)

    def may_send(self, query: str, principal: Principal) -> bool:
        """Whether an arbitrary document may run (anything but `require` mode lets it)."""
        return (
            self.mode != "require"
            or DOCUMENTS_ANY in principal.scopes
            or query in self.trusted_bodies
        )

    def _count_refused(self) -> Refused:
        self._mark("refused")
        return Refused(400, "PERSISTED_DOCUMENT_REQUIRED", REQUIRED_MESSAGE)

    def _mark(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.persisted.labels(result).inc()

    async def _lookup(self, digest: str) -> str | None:
        if not self.shared.configured:
            return self._local.get(digest)
        if not self.shared.available():
            return None  # the client falls back to sending the query
        assert self.shared.client is not None
        try:
            found: Any = await self.shared.client.get(PREFIX + digest)
        except ERRORS as exc:
            self.shared.failed("persisted", exc)
            return None
        self.shared.succeeded()
        return found.decode() if isinstance(found, bytes) else None

    async def _register(self, digest: str, query: str, caller: str) -> dict[str, object] | None:
        """Keep `query` under `digest` for `caller`; None when kept, else why not."""
        if len(query.encode()) > self.max_bytes:
            return self._not_kept(
                "too_large",
                "PERSISTED_QUERY_TOO_LARGE",
                f"The document is larger than {self.max_bytes} bytes (GATEWAY_APQ_MAX_BYTES), "
                "so it is not registered: it runs as sent; send its text each time.",
            )
        if not self.shared.configured:
            retry = self._store_locally(digest, query, caller)
        elif not self.shared.available():
            return self._store_down()
        elif not await self.shared.writable("persisted"):
            return self._store_full()
        else:
            try:
                retry = await self._store(digest, query, caller)
            except ERRORS as exc:
                self.shared.failed("persisted", exc)
                return self._store_full() if is_full(exc) else self._store_down()
        if retry is None:
            self._mark("apq_registered")
            return None
        item = self.registrations
        return self._not_kept(
            "over_limit",
            "PERSISTED_QUERY_REGISTRATION_LIMIT",
            f"This caller has registered its {item.amount} documents per "
            f"{_window(item)} (GATEWAY_APQ_REGISTRATIONS), so this one is not registered: it "
            f"runs as sent; send its text, or register it again after {retry} s.",
        )

    async def _store(self, digest: str, query: str, caller: str) -> int | None:
        """Register in Redis; None when kept, else the seconds until `caller` may again."""
        assert self._script is not None
        found: Any = await self._script(
            keys=[PREFIX + digest, INDEX_KEY, COUNTER_PREFIX + _digest_of(caller)],
            args=[
                digest,
                query,
                APQ_TTL_SECONDS,
                time.time(),
                self.max_documents,
                self.registrations.amount,
                self.registrations.get_expiry(),
                PREFIX,
            ],
        )
        self.shared.succeeded()
        kept, detail = int(found[0]), int(found[1])
        if kept and detail:
            self.shared.wrote()
        return None if kept else max(1, detail)

    def _store_locally(self, digest: str, query: str, caller: str) -> int | None:
        """Register in this process; None when kept, else the seconds until `caller` may again."""
        if digest in self._local:
            self._local.move_to_end(digest)  # known already: kept longer, not counted
            return None
        now = time.monotonic()
        ends, used = self._windows.get(caller, (0.0, 0))
        if ends <= now:
            ends, used = now + self.registrations.get_expiry(), 0
        if used >= self.registrations.amount:
            return max(1, math.ceil(ends - now))
        if caller not in self._windows and len(self._windows) >= _MAX_LOCAL_CALLERS:
            self._windows = {c: w for c, w in self._windows.items() if w[0] > now}
        self._windows[caller] = (ends, used + 1)
        self._local[digest] = query
        while len(self._local) > self.max_documents:
            self._local.popitem(last=False)
        return None

    def _store_full(self) -> dict[str, object]:
        return self._not_kept(
            "store_full",
            "PERSISTED_QUERY_STORE_FULL",
            "The shared document store (Redis) is full and refuses writes, so the document is "
            "not registered: it runs as sent; send its text until it is registered.",
        )

    def _store_down(self) -> dict[str, object]:
        return self._not_kept(
            "store_unavailable",
            "PERSISTED_QUERY_STORE_UNAVAILABLE",
            "The shared document store (Redis) is unreachable, so the document is not "
            "registered: it runs as sent; send its text until it is registered.",
        )

    def _not_kept(self, result: str, code: str, message: str) -> dict[str, object]:
        self._mark(f"apq_{result}")
        return {"registered": False, "code": code, "message": message}


def _digest_of(caller: str) -> str:
    # Key names carry no caller names (a token's subject may be personal data).
    return hashlib.sha256(caller.encode()).hexdigest()[:32]


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
