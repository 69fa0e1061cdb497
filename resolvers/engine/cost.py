"""Prices: refuses operations whose estimated cost, or upstream calls, exceed a ceiling.

Checked by resolvers/engine/caching.py after the shape limits and before validation, so an
over-priced document costs no validation.

Cost: every selected field costs 1 per object it is selected on; a paginated field multiplies
its subtree by its page size (`first`/`last`, or the default), and `children` by an estimate.
The estimate uses the request's variables, so `first: $n` counts as what `$n` is.

Upstream calls: each `sessions` field reads every listing once per page. A filter the gateway
checks itself (statuses, createdAt, expiresAt, remoteAddress, userAgent, lastSeenAt, countries,
asns, signals: no upstream applies all of them) may read a listing in several chunks before a
page fills, and `totalCount` under one reads the listings again, so each is priced at
RESIDUAL_READS calls per listing; `signals` adds a scan of SCAN_READS. Past the
price, the per-request call budget (app/upstream/accounting.py) cuts the reading short.

A person's `sessions` (`viewer.sessions`, `viewer.person.sessions`, `person.sessions`) reads
every listing like `sessions`. A user's `sessions` (SessionUser.sessions) reads that user's
listing once per page, for each user object above it, and `_entities` (subgraph mode) is one
object per representation, whose users cost at most one listing per provider
(SessionProvider.users).

Both walks measure each fragment once (a spread reuses its figure), so they take linear time
whatever the fragments spread; the document's shape is already within limits by then.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)

from resolvers.types.pagination import DEFAULT_PAGE_SIZE

PAGINATED = {"sessions", "authorizations"}
# Root fields that are a person (or hold one): their `sessions` read every provider's listings.
PERSONAL = frozenset({"viewer", "person"})
CHILDREN_ESTIMATE = 5
# Filter fields at least one upstream leaves to the gateway.
GATEWAY_SIDE = frozenset(
    {
        "statuses",
        "createdAt",
        "expiresAt",
        "remoteAddress",
        "userAgent",
        "lastSeenAt",
        "countries",
        "asns",
        "signals",
    }
)
# Reads per listing assumed for a gateway-side filter: a first chunk of 50, doubling, covers
# about 1,500 sessions per listing in five reads.
RESIDUAL_READS = 5
# The `signals` filter first scans the sessions in reach for everyone's signals (up to 2,000,
# newest first: resolvers/types/whereabouts.py): priced like another gateway-side read.
SCAN_READS = RESIDUAL_READS
# `Session.signals` and `Person.devices` read the person's sessions (once per person and
# request): one listing read per object they are selected on.
PERSON_FIELDS = frozenset({"signals", "devices"})
# Where a priced document's cost is noted for the caller's cost budget (app/state/ratelimit.py sets
# a fresh list per request; the charge happens there once the request is answered).
PRICED: ContextVar[list[int] | None] = ContextVar("priced", default=None)


class _Estimate:
    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        listings: int,
    ):
        self.fragments = fragments
        self.variables = variables
        self.listings = listings
        self.costs: dict[str, int] = {}
        self.call_costs: dict[str, int] = {}
        self.nested_costs: dict[str, int] = {}
        self.person_costs: dict[str, int] = {}
        self.on_path: set[str] = set()

    def size(self, field: FieldNode) -> int:
        name = field.name.value
        if name == "_entities":
            return self.representations(field)
        if name == "children":
            return CHILDREN_ESTIMATE
        if name not in PAGINATED:
            return 1
        for argument in field.arguments or ():
            if argument.name.value in ("first", "last"):
                given = self.value(argument.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(given, 1)
        return DEFAULT_PAGE_SIZE

    def representations(self, field: FieldNode) -> int:
        """How many entities `_entities` is asked for (a literal list or a variable's)."""
        for argument in field.arguments or ():
            if argument.name.value == "representations":
                node = argument.value
                if isinstance(node, ListValueNode):
                    return max(len(node.values), 1)
                given = self.value(node)
                if isinstance(given, list):
                    return max(len(given), 1)
        return 1

    def value(self, node: ValueNode) -> Any:
        """A literal int or object, or a variable's value; anything else as None."""
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, ObjectValueNode):
            return {
                f.name.value: None if isinstance(f.value, NullValueNode) else f.value
                for f in node.fields
            }
        return None

    def cost(self, selections: SelectionSetNode) -> int:
        """The cost of `selections` on one object; each fragment is measured once."""
        total = 0
        for node in _level(selections):
            if isinstance(node, FieldNode):
                total += 1
                if node.selection_set is not None:
                    total += self.size(node) * self.cost(node.selection_set)
            else:
                total += self.fragment(node.name.value, self.cost, self.costs)
        return total

    def fragment(self, name: str, measure: Any, memo: dict[str, int]) -> int:
        if name in memo:
            return memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.on_path:
            return 0  # unknown or cyclic: a validation error
        self.on_path.add(name)
        figure: int = measure(fragment.selection_set)
        self.on_path.discard(name)
        memo[name] = figure
        return figure

    def calls(self, selections: SelectionSetNode) -> int:
        """Upstream calls the root fields of `selections` may make, by the rules above."""
        total = 0
        for node in _level(selections):
            if isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, self.calls, self.call_costs)
            elif node.name.value == "sessions":
                total += self.listings * self._reads(node) + self._below(node)
            elif node.name.value == "_entities":
                total += min(self.size(node), self.listings) + self._below(node)
            elif node.name.value in PERSONAL:
                total += self.personal(node.selection_set)
            else:
                total += self._below(node)
        return total

    def personal(self, selections: SelectionSetNode | None) -> int:
        """Upstream calls under a person: its `sessions` as the root `sessions`, its other
        fields (a session's user's sessions) as anywhere else."""
        if selections is None:
            return 0
        total = 0
        for node in _level(selections):
            if isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, self.personal, self.person_costs)
            elif node.name.value == "sessions":
                total += self.listings * self._reads(node) + self._below(node)
            elif node.name.value in PERSONAL:
                total += self.personal(node.selection_set)
            elif node.name.value in PERSON_FIELDS:  # the person's devices: every listing
                total += self.listings + self._below(node)
            else:
                total += self._below(node)
        return total

    def _below(self, field: FieldNode) -> int:
        """Upstream calls of the user lists under `field`, for all the objects it returns."""
        if field.selection_set is None:
            return 0
        return self.size(field) * self.nested(field.selection_set)

    def nested(self, selections: SelectionSetNode) -> int:
        """Upstream calls of the `sessions` of users in `selections`, on one object."""
        total = 0
        for node in _level(selections):
            if isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, self.nested, self.nested_costs)
                continue
            if node.name.value == "sessions":
                total += self._reads(node)
            elif node.name.value in PERSON_FIELDS:
                total += 1
            total += self._below(node)
        return total

    def _reads(self, field: FieldNode) -> int:
        """Reads per listing of one `sessions` field."""
        given = next((a.value for a in field.arguments or () if a.name.value == "filter"), None)
        value = self.value(given) if given is not None else None
        gateway_side = isinstance(value, Mapping) and any(
            value.get(name) is not None for name in GATEWAY_SIDE
        )
        if not gateway_side:
            return 1
        counted = field.selection_set is not None and "totalCount" in self._names(
            field.selection_set
        )
        scan = SCAN_READS if isinstance(value, Mapping) and value.get("signals") else 0
        return RESIDUAL_READS * (2 if counted else 1) + scan

    def _names(self, selections: SelectionSetNode) -> set[str]:
        names: set[str] = set()
        seen: set[str] = set()
        pending = [selections]
        while pending:
            for node in _level(pending.pop()):
                if isinstance(node, FieldNode):
                    names.add(node.name.value)
                elif node.name.value not in seen and node.name.value in self.fragments:
                    seen.add(node.name.value)
                    pending.append(self.fragments[node.name.value].selection_set)
        return names


def _level(selections: SelectionSetNode) -> Iterator[FieldNode | FragmentSpreadNode]:
    """The fields and spreads of one level, through inline fragments; each spread once."""
    spread: set[str] = set()  # execution collects a fragment once per selection set
    pending = [selections]
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                if node.name.value not in spread:
                    spread.add(node.name.value)
                    yield node
            elif isinstance(node, FieldNode):
                yield node


def _operations(document: DocumentNode) -> Iterator[OperationDefinitionNode]:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            yield definition


def _defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    """Variables' default values: a variable the request leaves out counts as its default."""
    values: dict[str, Any] = {}
    for v in operation.variable_definitions or ():
        if isinstance(v.default_value, IntValueNode):
            values[v.variable.name.value] = int(v.default_value.value)
        elif isinstance(v.default_value, ObjectValueNode):
            values[v.variable.name.value] = {f.name.value: f.value for f in v.default_value.fields}
    return values


def estimate(
    document: DocumentNode, variables: Mapping[str, Any] | None, listings: int = 1
) -> tuple[int, int]:
    """(cost, upstream calls) of the costliest operation in `document`."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    cost = calls = 0
    for operation in _operations(document):
        values = {**_defaults(operation), **(variables or {})}
        walk = _Estimate(fragments, values, listings)
        cost = max(cost, walk.cost(operation.selection_set))
        if operation.operation.value == "query":
            calls = max(calls, walk.calls(operation.selection_set))
    return cost, calls


@dataclass(frozen=True, slots=True)
class Prices:
    """The ceilings on a query's estimated cost and upstream calls."""

    max_cost: int = 50_000
    max_calls: int = 100

    def check(
        self, document: DocumentNode, variables: Mapping[str, Any] | None, listings: int
    ) -> GraphQLError | None:
        """The refusal for `document` with `variables`, or None when it is within both."""
        cost, calls = estimate(document, variables, listings)
        if cost > self.max_cost:
            return GraphQLError(
                f"Query cost {cost} exceeds the maximum of {self.max_cost}: ask for "
                "smaller pages (first/last) or fewer nested lists.",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "max": self.max_cost},
            )
        if calls > self.max_calls:
            return GraphQLError(
                f"This query may make {calls} upstream calls; the limit "
                f"(maxUpstreamCalls) is {self.max_calls}. A filter the gateway checks "
                "itself (statuses, createdAt, expiresAt, remoteAddress, userAgent, lastSeenAt, "
                "countries, asns, signals) is "
                f"priced at {RESIDUAL_READS} reads of every listing, and totalCount "
                "under one doubles that: ask for fewer such lists per request.",
                extensions={
                    "code": "QUERY_TOO_COSTLY",
                    "limit": "maxUpstreamCalls",
                    "upstreamCalls": calls,
                    "max": self.max_calls,
                },
            )
        if (meter := PRICED.get()) is not None:
            meter.append(cost)
        return None
