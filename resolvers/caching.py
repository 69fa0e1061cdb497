"""Documents: each distinct query text is parsed and validated once per schema."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import ASTValidationRule, DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


@dataclass(slots=True)
class _Entry:
    document: DocumentNode
    errors: list[GraphQLError] | None = None  # None: not validated yet


@dataclass
class DocumentStore:
    """Parsed documents and their validation errors by query text, least recently used out."""

    max_tokens: int
    rules: tuple[type[ASTValidationRule], ...]
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
            entry = self._store.entries.get(context.query or "")
            if entry is None or entry.document is not document:
                entry = _Entry(document)  # not from the cache: validate, remember nothing
            if entry.errors is None:
                rules = (*context.validation_rules, *self._store.rules)
                entry.errors = validate_document(context.schema._schema, document, rules)
                self._store.validations += 1
            # A copy: later extensions add to the list of this request only.
            context.pre_execution_errors = list(entry.errors)
        yield
