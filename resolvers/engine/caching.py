"""Documents: each distinct query text is parsed, measured and validated once per schema."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from resolvers.engine.cost import Prices
from resolvers.engine.document_limits import CODE, DocumentLimits, check_document

AMBIGUOUS = "Must provide operation name if query contains multiple operations."
# Whether the request named its operation. Strawberry's ExecutionContext keeps only the name it
# falls back to (the first operation's), so GatewaySchema.execute notes this here.
OPERATION_NAMED: ContextVar[bool] = ContextVar("operation_named", default=True)


@dataclass(slots=True)
class _Entry:
    document: DocumentNode
    shape: GraphQLError | None = None  # the shape limit it passes, once measured
    measured: bool = False
    errors: list[GraphQLError] | None = None  # None: not validated yet
    operations: int = 0  # operation definitions, known once validated


@dataclass
class DocumentStore:
    """Parsed documents and their validation errors by query text, least recently used out."""

    max_tokens: int
    rules: tuple[type[ASTValidationRule], ...]
    limits: DocumentLimits = field(default_factory=DocumentLimits)
    prices: Prices = field(default_factory=Prices)
    maxsize: int = 256
    entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    parses: int = 0
    validations: int = 0


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

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            context.pre_execution_errors = self._errors(document)
        yield

    def _errors(self, document: DocumentNode) -> list[GraphQLError]:
        """Shape limits, then prices, then graphql-core's rules: each only if the last passed."""
        context = self.execution_context
        store = self._store
        entry = store.entries.get(context.query or "")
        if entry is None or entry.document is not document:
            entry = _Entry(document)  # not from the cache: check, remember nothing
        if not entry.measured:
            entry.shape, entry.measured = check_document(document, store.limits), True
        if entry.shape is not None:
            # Not kept: an attacker's variations would push the useful documents out of the
            # cache and leave large trees for the collector (measured: twice the refusals).
            store.entries.pop(context.query or "", None)
            return [entry.shape]
        upstreams = getattr(context.context, "upstreams", None)
        listings = upstreams.listings if upstreams is not None else 1
        priced = store.prices.check(document, context.variables, listings)
        if priced is not None:
            store.entries.pop(context.query or "", None)
            return [priced]
        if entry.errors is None:
            # On the event loop: within the shape limits and the comparison budget it takes a
            # few milliseconds (tens at worst), and worker threads only made the loop wait for
            # the GIL (measured with bench/run --overload).
            rules = (*context.validation_rules, *store.rules)
            entry.errors = self._validate(context.schema._schema, document, rules)
            entry.operations = sum(
                isinstance(d, OperationDefinitionNode) for d in document.definitions
            )
        # A copy: later extensions add to the list of this request only.
        errors = list(entry.errors)
        if not errors and entry.operations > 1 and not OPERATION_NAMED.get():
            # Strawberry would run the first one; the spec asks for an error.
            errors.append(GraphQLError(AMBIGUOUS, extensions={"code": "BAD_REQUEST"}))
        return errors

    def _validate(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        """graphql-core's rules (the document is within the shape limits)."""
        self._store.validations += 1
        errors = validate_document(schema, document, rules)
        return [_explained(e, self._store.limits) for e in errors]


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
