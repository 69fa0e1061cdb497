"""Shape limits checked in linear time, before validation or cost ever walks a document.

graphql-core's validation is quadratic in same-named selections (the overlapping-fields rule),
and anything that expands fragment spreads one by one is exponential in how deeply fragments
spread each other. So a document is first measured here, with each fragment measured once and
its figures reused wherever it is spread, and refused at the first limit it passes:

- `max_selections`: selections in one selection set, as written;
- `max_spreads`: fragment spreads in the document, as written;
- `max_fields`: fields once every spread is expanded (what execution would walk);
- `max_same_name`: fields sharing a response name in one selection set, fragments included
  (the pairs the overlapping-fields rule compares grow with the square of this);
- `max_depth`: nesting of fields with sub-selections, introspection fields not counted;
- `max_aliases`: aliased fields once spreads are expanded.

Within these, graphql-core's overlapping-fields rule still meters its own comparisons and gives
up past `max_field_comparisons` (its MAX_COMPLEXITY_BUDGET), which bounds validation's time.

Fragments spread inside fragments past graphql-core's own nesting ceiling (MAX_NESTING_DEPTH)
are refused here too, so its validation never gives up for that reason. A spread that closes a
fragment cycle counts as nothing here; validation reports the cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.validation.rules import overlapping_fields_can_be_merged

CODE = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The ceilings; each refusal names the one passed (as `limit`) and its value (`max`)."""

    max_depth: int = 15
    max_aliases: int = 30
    max_fields: int = 1000
    max_selections: int = 200
    max_spreads: int = 200
    max_same_name: int = 50
    max_field_comparisons: int = 100_000


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a selection set amounts to once its spreads are expanded."""

    fields: int
    aliases: int
    depth: int
    nesting: int  # selection sets inside one another, a spread's fragment counting as one
    names: Counter[str]  # response names of the set's own level, fragments merged in


class _Refused(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


def _refusal(limit: str, maximum: int, message: str) -> _Refused:
    extensions = {"code": CODE, "limit": limit, "max": maximum}
    return _Refused(GraphQLError(message, extensions=extensions))


class _Measure:
    def __init__(self, document: DocumentNode, limits: DocumentLimits) -> None:
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.done: dict[str, _Shape] = {}
        self.on_path: set[str] = set()

    def fragment(self, name: str) -> _Shape | None:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.on_path:
            return None  # unknown or cyclic: validation names it
        self.on_path.add(name)
        shape = self.selection_set(definition.selection_set)
        self.on_path.discard(name)
        self.done[name] = shape
        return shape

    def selection_set(self, selections: SelectionSetNode) -> _Shape:
        fields = aliases = depth = nesting = 0
        names: Counter[str] = Counter()
        spread: set[str] = set()  # execution collects a fragment once per selection set
        for node in selections.selections:
            if isinstance(node, FieldNode):
                name = node.name.value
                key = node.alias.value if node.alias else name
                names[key] += 1
                fields += 1
                aliases += node.alias is not None
                if node.selection_set is not None:
                    sub = self.selection_set(node.selection_set)
                    fields += sub.fields
                    aliases += sub.aliases
                    nesting = max(nesting, sub.nesting)
                    if not name.startswith("__"):  # introspection's nesting is fixed and fine
                        depth = max(depth, sub.depth + 1)
                continue
            if isinstance(node, FragmentSpreadNode):
                if node.name.value in spread:
                    continue
                spread.add(node.name.value)
                shape = self.fragment(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                shape = self.selection_set(node.selection_set)
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            if shape is not None:
                fields += shape.fields
                aliases += shape.aliases
                depth = max(depth, shape.depth)
                nesting = max(nesting, shape.nesting)
                names.update(shape.names)
        name, most = names.most_common(1)[0] if names else ("", 0)
        if most > self.limits.max_same_name:
            raise _refusal(
                "maxSameName",
                self.limits.max_same_name,
                f"'{_short(name)}' is selected {most} times in one selection set; the limit "
                f"(maxSameName) is {self.limits.max_same_name}. Select each field once.",
            )
        if nesting + 1 > MAX_NESTING_DEPTH:
            raise _refusal(
                "maxNesting",
                MAX_NESTING_DEPTH,
                f"Fragments spread inside one another nest selections more than "
                f"{MAX_NESTING_DEPTH} levels deep, more than graphql-core validates.",
            )
        return _Shape(fields, aliases, depth, nesting + 1, names)


def _selection_sets(document: DocumentNode) -> Iterator[SelectionSetNode]:
    """Every selection set of the document as written (iteratively: no recursion limit)."""
    pending = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while pending:
        selections = pending.pop()
        yield selections
        for node in selections.selections:
            nested = getattr(node, "selection_set", None)
            if nested is not None:
                pending.append(nested)


def _written(document: DocumentNode, limits: DocumentLimits) -> None:
    spreads = 0
    for selections in _selection_sets(document):
        count = len(selections.selections)
        if count > limits.max_selections:
            raise _refusal(
                "maxSelections",
                limits.max_selections,
                f"A selection set has {count} selections; the limit (maxSelections) is "
                f"{limits.max_selections}.",
            )
        spreads += sum(isinstance(n, FragmentSpreadNode) for n in selections.selections)
        if spreads > limits.max_spreads:
            raise _refusal(
                "maxSpreads",
                limits.max_spreads,
                f"The document has more than {limits.max_spreads} fragment spreads; the limit "
                f"(maxSpreads) is {limits.max_spreads}.",
            )


def _operation(shape: _Shape, limits: DocumentLimits) -> None:
    # Figures are plain integers, however far spreads multiply them: checked once, exactly.
    if shape.fields > limits.max_fields:
        raise _refusal(
            "maxFields",
            limits.max_fields,
            f"The operation selects {shape.fields} fields once its fragments are expanded; "
            f"the limit (maxFields) is {limits.max_fields}.",
        )
    if shape.aliases > limits.max_aliases:
        raise _refusal(
            "maxAliases",
            limits.max_aliases,
            f"{shape.aliases} aliases found; the limit (maxAliases) is {limits.max_aliases}.",
        )
    if shape.depth > limits.max_depth:
        raise _refusal(
            "maxDepth",
            limits.max_depth,
            f"The operation nests fields {shape.depth} levels deep; the limit (maxDepth) is "
            f"{limits.max_depth}.",
        )


def apply_comparison_budget(limits: DocumentLimits) -> None:
    """Set graphql-core's budget for the overlapping-fields rule (process-wide).

    graphql-core documents this module attribute as the knob; its default (500,000) lets one
    document burn a tenth of a second or more. A page of 30 Relay-style fragments that all
    select `id`, `__typename` and a `user { ... }` uses about 17,000.
    """
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = limits.max_field_comparisons


def check_document(document: DocumentNode, limits: DocumentLimits) -> GraphQLError | None:
    """The first limit `document` passes, as a client error; None when it is within all."""
    try:
        _written(document, limits)
        measure = _Measure(document, limits)
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                _operation(measure.selection_set(definition.selection_set), limits)
            elif isinstance(definition, FragmentDefinitionNode):
                measure.fragment(definition.name.value)  # unused ones are validated too
    except _Refused as refused:
        return refused.error
    except RecursionError:
        # Nesting deeper than Python's stack, which the token limit allows in principle.
        return _refusal(
            "maxDepth",
            limits.max_depth,
            f"The document nests too deeply; the limit (maxDepth) is {limits.max_depth}.",
        ).error
    return None


def _short(text: str, keep: int = 64) -> str:
    return text if len(text) <= keep else text[:keep] + "…"
