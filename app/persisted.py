"""Trusted documents and automatic persisted queries (APQ).

GATEWAY_PERSISTED_DOCUMENTS names a file of trusted documents: an Apollo persisted-query
manifest (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, ...]}`)
or a map `{"sha256:<hash>": "<document>"}` (there the hash must be the document's). Each is
parsed and validated against the schema at start-up; a bad one stops start-up, named.

A request names a document by `documentId` (GraphQL over HTTP), or by APQ's
`extensions.persistedQuery.sha256Hash`. APQ's second step (hash and query) registers the
document, shared through Redis when configured: only for authenticated callers, only up to
`max_bytes`, and only once the hash is checked to be the query's.

GATEWAY_PERSISTED_DOCUMENTS_MODE: `off` (ids and APQ refused as not supported), `allow` (ids,
APQ and arbitrary documents) or `require` (arbitrary documents, registration included, only for
keys with the scope `documents:any`; a document that is a trusted one by content is accepted).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from graphql import GraphQLError, GraphQLSchema, parse, validate
from strawberry.http import GraphQLRequestData

from app.auth.principal import DOCUMENTS_ANY, Principal
from app.errors import ConfigError
from app.metrics import Metrics
from app.shared import ERRORS, Shared

Mode = Literal["off", "allow", "require"]
PREFIX = "gateway:apq:"
# A registered document is kept this long after registration (a client re-registers after).
APQ_TTL_SECONDS = 24 * 3600
MAX_LOCAL_APQ = 1000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
    ) -> None:
        self.trusted = trusted
        self.trusted_bodies = frozenset(trusted.values())
        self.mode = mode
        self.shared = shared
        self.max_bytes = max_bytes
        self.metrics = metrics
        self._local: OrderedDict[str, str] = OrderedDict()

    async def resolve(
        self, data: GraphQLRequestData, document_id: object, principal: Principal
    ) -> GraphQLRequestData:
        """`data` with its query filled in from its id or hash; Refused when it may not run."""
        persisted = (data.extensions or {}).get("persistedQuery")
        if document_id is not None:
            return await self._by_id(data, document_id)
        if persisted is not None:
            return await self._apq(data, persisted, principal)
        if data.query is not None and not self.may_send(data.query, principal):
            raise self._count_refused()
        return data

    async def _by_id(self, data: GraphQLRequestData, document_id: object) -> GraphQLRequestData:
        if self.mode == "off":
            raise _not_supported()
        if not isinstance(document_id, str) or not document_id:
            raise Refused(400, "BAD_REQUEST", "`documentId` must be a non-empty string.")
        if data.query is not None:
            raise Refused(400, "BAD_REQUEST", "Send either `documentId` or `query`, not both.")
        query = self.trusted.get(_bare(document_id)) or await self._lookup(_bare(document_id))
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
            query = self.trusted.get(digest) or await self._lookup(digest)
            if query is None:
                self._mark("apq_not_found")
                raise _not_found()
            self._mark("apq_hit")
            return replace(data, query=query)
        if sha256(data.query) != digest:
            raise Refused(400, "BAD_REQUEST", "provided sha does not match query")
        if not self.may_send(data.query, principal):
            raise self._count_refused()
        registers = digest not in self.trusted and not principal.anonymous
        if registers and len(data.query.encode()) <= self.max_bytes:
            await self._store(digest, data.query)
            self._mark("apq_registered")
        return data

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

    async def _store(self, digest: str, query: str) -> None:
        if not self.shared.configured:
            self._local[digest] = query
            self._local.move_to_end(digest)
            while len(self._local) > MAX_LOCAL_APQ:
                self._local.popitem(last=False)
            return
        if not self.shared.available():
            return
        assert self.shared.client is not None
        try:
            await self.shared.client.set(PREFIX + digest, query, ex=APQ_TTL_SECONDS)
        except ERRORS as exc:
            self.shared.failed("persisted", exc)
