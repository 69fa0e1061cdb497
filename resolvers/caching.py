"""Documents: each distinct query text is parsed, measured and validated once per schema.

New documents are validated in a worker thread by Strawberry's `validate_document` (graphql-core's
rules plus Strawberry's own) against the schema's `_schema`; neither is public API.
`thread_validator` checks both and, if they are not as expected, logs one warning; Strawberry
then validates new documents itself, on the event loop, and the results are cached all the same.
(graphql-core's public `validate` is no substitute: it would leave out Strawberry's rules.)
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial

import strawberry
import strawberry.schema.schema as strawberry_schema
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from resolvers.document_limits import CODE, DocumentLimits, check_document
from resolvers.internals import checked, signature_problems, warn_once

Rules = tuple[type[ASTValidationRule], ...]
Validator = Callable[[DocumentNode, Rules], list[GraphQLError]]

AMBIGUOUS = "Must provide operation name if query contains multiple operations."
# Whether the request named its operation. Strawberry's ExecutionContext keeps only the name it
# falls back to (the first operation's), so GatewaySchema.execute notes this here.
OPERATION_NAMED: ContextVar[bool] = ContextVar("operation_named", default=True)
_VALIDATE_DOCUMENT = {"validate_document": ("schema", "document", "validation_rules")}


def thread_validator(schema: strawberry.Schema) -> Validator | None:
    """Strawberry's validation against `schema`, to call in a thread; None if it cannot be had."""
    problems = checked(lambda: _problems(schema))
    if problems:
        warn_once(
            "Validation in worker threads (resolvers/caching.py)",
            problems,
            "Strawberry validates each new document on the event loop",
        )
        return None
    validate: Callable[[GraphQLSchema, DocumentNode, Rules], list[GraphQLError]]
    validate = strawberry_schema.validate_document
    return partial(validate, schema._schema)


def _problems(schema: strawberry.Schema) -> list[str]:
    problems = signature_problems(strawberry_schema, _VALIDATE_DOCUMENT)
    if not isinstance(getattr(schema, "_schema", None), GraphQLSchema):
        problems.append("strawberry.Schema._schema is not a GraphQLSchema")
    return problems


@dataclass(slots=True)
class _Entry:
    document: DocumentNode
    errors: list[GraphQLError] | None = None  # None: not validated yet
    operations: int = 0  # operation definitions, known once validated


@dataclass
class DocumentStore:
    """Parsed documents and their validation errors by query text, least recently used out."""

    max_tokens: int
    rules: Rules
    limits: DocumentLimits = field(default_factory=DocumentLimits)
    maxsize: int = 256
    entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    parses: int = 0
    validations: int = 0
    # Two threads: new documents are validated beside the event loop, at most two at a time.
    validators: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="validate")
    )
    # Set once the schema is built (`thread_validator`); None: Strawberry validates.
    validator: Validator | None = None


class Documents(SchemaExtension):
    """Parsing with a token limit, validation with the gateway's rules, both cached.

    One extension instead of Strawberry's MaxTokensLimiter, AddValidationRules and
    ValidationCache: extensions are made and entered on every request, and a cache hit needs
    none of that. A syntax error still goes through Strawberry's own parsing, so it reaches
    GatewayErrors and gets its code.
    """

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        store = self._store
        query = context.query
        if query is None or context.graphql_document is not None:
            yield
            return
        entry = store.entries.get(query)
        if entry is not None:
            store.entries.move_to_end(query)
            context.graphql_document = entry.document
            yield
            return
        context.parse_options["max_tokens"] = store.max_tokens
        store.parses += 1
        yield
        if context.graphql_document is not None:
            store.entries[query] = _Entry(context.graphql_document)
            if len(store.entries) > store.maxsize:
                store.entries.popitem(last=False)

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is None or context.pre_execution_errors is not None:
            yield
            return
        store = self._store
        entry = store.entries.get(context.query or "")
        if entry is None or entry.document is not document:
            entry = _Entry(document)  # not from the cache: validate, remember nothing
        if entry.errors is None:
            rules = (*context.validation_rules, *store.rules)
            if store.validator is None:
                for _ in self._by_strawberry(entry, rules):
                    yield
                return
            # In a worker thread: even within the shape limits, graphql-core's rules can take
            # tens of milliseconds, which the event loop must not wait for.
            loop = asyncio.get_running_loop()
            errors = await loop.run_in_executor(
                store.validators, self._validate, store.validator, document, rules
            )
            _remember(entry, errors)
        context.pre_execution_errors = self._answer(entry)
        yield

    def _by_strawberry(self, entry: _Entry, rules: Rules) -> Iterator[None]:
        """Validation by Strawberry itself, on the event loop, while this hook yields.

        Strawberry acts on the errors before the hook resumes: a missing operation name is
        reported without validating, and the reason of an abort is written into its own list.
        """
        context = self.execution_context
        refused = self._refused(entry.document)
        if refused is not None:
            context.pre_execution_errors = self._answer(_remember(entry, refused))
            yield
            return
        if _operations(entry.document) > 1 and not OPERATION_NAMED.get():
            context.pre_execution_errors = [_ambiguous()]
            yield
            return
        context.validation_rules = rules
        yield
        found = _errors(context)
        if found is not None:
            found[:] = [_explained(e, self._store.limits) for e in found]
            self._store.validations += 1
            _remember(entry, list(found))

    def _answer(self, entry: _Entry) -> list[GraphQLError]:
        """The validation errors of this request: the cached ones, and a missing operation name."""
        # A copy: later extensions add to the list of this request only.
        errors = list(entry.errors or ())
        if not errors and entry.operations > 1 and not OPERATION_NAMED.get():
            # Strawberry would run the first one; the spec asks for an error.
            errors.append(_ambiguous())
        return errors

    def _refused(self, document: DocumentNode) -> list[GraphQLError] | None:
        """The shape limit `document` is over, if any, checked in linear time."""
        refused = check_document(document, self._store.limits)
        return None if refused is None else [refused]

    def _validate(
        self, validator: Validator, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        """Shape limits in linear time first; graphql-core's rules only within them."""
        refused = self._refused(document)
        if refused is not None:
            return refused
        self._store.validations += 1
        return [_explained(e, self._store.limits) for e in validator(document, rules)]


def _errors(context: ExecutionContext) -> list[GraphQLError] | None:
    """The list of errors Strawberry's validation left in `context` (None: it did not run)."""
    return context.pre_execution_errors


def _ambiguous() -> GraphQLError:
    return GraphQLError(AMBIGUOUS, extensions={"code": "BAD_REQUEST"})


def _operations(document: DocumentNode) -> int:
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)


def _remember(entry: _Entry, errors: list[GraphQLError]) -> _Entry:
    """`entry` with its validation errors and its number of operations."""
    entry.errors = errors
    entry.operations = _operations(entry.document)
    return entry


def _explained(error: GraphQLError, limits: DocumentLimits) -> GraphQLError:
    """graphql-core's bare "Validation aborted." with its reason: the comparison budget ran out.

    (Its other cause, fragments nested past graphql-core's own ceiling, cannot happen within
    `max_depth`.)
    """
    if not isinstance(error, ValidationAbortedError) or error.message != "Validation aborted.":
        return error
    budget = limits.max_field_comparisons
    return GraphQLError(
        "Checking that same-named fields can be merged took more than the limit of "
        f"{budget} comparisons (maxFieldComparisons): select each field once per selection "
        "set, and avoid spreading many fragments that select the same fields with sub-fields.",
        extensions={"code": CODE, "limit": "maxFieldComparisons", "max": budget},
    )
