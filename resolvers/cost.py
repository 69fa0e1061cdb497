"""CostLimit: refuses operations whose estimated cost exceeds a ceiling, before execution.

Every selected field costs 1 per object it is selected on; a paginated field multiplies its
subtree by its page size (`first`/`last`, or the default), and `children` by an estimate. The
estimate uses the request's variables, so `first: $n` counts as what `$n` is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from resolvers.pagination import DEFAULT_PAGE_SIZE

PAGINATED = {"sessions", "authorizations"}
CHILDREN_ESTIMATE = 5


class _Estimate:
    def __init__(
        self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]
    ):
        self.fragments = fragments
        self.variables = variables

    def size(self, field: FieldNode) -> int:
        name = field.name.value
        if name == "children":
            return CHILDREN_ESTIMATE
        if name not in PAGINATED:
            return 1
        for argument in field.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(given, 1)
        return DEFAULT_PAGE_SIZE

    def cost(self, selections: SelectionSetNode | None, weight: int, seen: frozenset[str]) -> int:
        total = 0
        for field, fragment_seen in self._fields(selections, seen):
            total += weight + self.cost(
                field.selection_set, weight * self.size(field), fragment_seen
            )
        return total

    def _fields(
        self, selections: SelectionSetNode | None, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, frozenset[str]]]:
        for node in selections.selections if selections else ():
            if isinstance(node, FieldNode):
                yield node, seen
            elif isinstance(node, InlineFragmentNode):
                yield from self._fields(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:  # cycles are a validation error
                    yield from self._fields(fragment.selection_set, seen | {name})


def estimate_cost(document: Any, variables: Mapping[str, Any] | None) -> int:
    """The estimated cost of the costliest operation in `document`."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    costs = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        # A variable the request leaves out counts as its default value.
        values = {
            v.variable.name.value: int(v.default_value.value)
            for v in definition.variable_definitions or ()
            if isinstance(v.default_value, IntValueNode)
        }
        values.update(variables or {})
        estimate = _Estimate(fragments, values)
        costs.append(estimate.cost(definition.selection_set, 1, frozenset()))
    return max(costs, default=0)


class CostLimit(SchemaExtension):
    """Refuse operations estimated above `max_cost`, naming both numbers."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not context.pre_execution_errors:
            cost = estimate_cost(document, context.variables)
            if cost > self.max_cost:
                # Setting the errors before validation runs makes Strawberry refuse the operation.
                context.pre_execution_errors = [
                    GraphQLError(
                        f"Query cost {cost} exceeds the maximum of {self.max_cost}: ask for "
                        "smaller pages (first/last) or fewer nested lists.",
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "max": self.max_cost},
                    )
                ]
        yield
