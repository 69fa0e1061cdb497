"""Shape limits and prices: measured in linear time, refused before graphql-core validates."""

from __future__ import annotations

import pytest
from graphql import parse

from app.listing.cursor import CursorCodec
from app.upstream.upstreams import Upstreams
from resolvers.engine.cost import RESIDUAL_READS, SCAN_READS, estimate
from resolvers.engine.document_limits import DocumentLimits, check_document
from resolvers.schema import build_schema
from resolvers.types.context import Context
from tests.support.mode import limits


def fan_out(levels: int, *, nested: bool) -> str:
    """Each fragment spreads the next twice: flat (one selection set) or under two fields."""

    def body(i: int) -> str:
        if nested:
            return f"parent {{ ...F{i + 1} }} p: parent {{ ...F{i + 1} }}"
        return f"...F{i + 1} ...F{i + 1}"

    fragments = [f"fragment F{i} on Session {{ {body(i)} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Session {{ id createdAt }}")
    return "{ sessions(first: 1) { nodes { ...F0 } } }\n" + "\n".join(fragments)


def repeated(field: str, times: int) -> str:
    return "{ sessions(first: 1) { nodes { " + " ".join([field] * times) + " } } }"


def refusal(query: str, limits: DocumentLimits | None = None) -> tuple[str, dict[str, object]]:
    error = check_document(parse(query), limits or DocumentLimits())
    assert error is not None
    return error.message, dict(error.extensions or {})


def test_fragments_spread_twice_per_level_count_as_expanded() -> None:
    # Nested under two fields, 25 levels expand to 2**25 copies: refused with the exact figure.
    message, extensions = refusal(fan_out(25, nested=True))

    assert extensions == {"code": "QUERY_TOO_COMPLEX", "limit": "maxFields", "max": 1000}
    # F25 has 2 fields, F(i) 2 x (1 + F(i+1)): F0 = 2**27 - 2, plus sessions and nodes.
    assert message.startswith(f"The operation selects {2**27} fields")
    # Spread twice in one selection set, a fragment is collected once: 20 levels stay small.
    assert check_document(parse(fan_out(20, nested=False)), DocumentLimits()) is None


@pytest.mark.parametrize(
    ("query", "limit", "message"),
    [
        (
            repeated("id", 700),
            "maxSelections",
            "A selection set has 700 selections; the limit (maxSelections) is 200.",
        ),
        (
            repeated("id", 51),
            "maxSameName",
            "'id' is selected 51 times in one selection set; the limit (maxSameName) is 50. "
            "Select each field once.",
        ),
        (
            "{ sessions { nodes { ...A0 ...A1 ...A2 } } } "
            + " ".join(
                f"fragment A{a} on Session {{ "
                + " ".join(f"...B{i}" for i in range(a * 70, a * 70 + 70))
                + " }"
                for a in range(3)
            )
            + " ".join(f"fragment B{i} on Session {{ createdAt }}" for i in range(210)),
            "maxSpreads",
            "The document has more than 200 fragment spreads; the limit (maxSpreads) is 200.",
        ),
        (
            "{ " + " ".join(f"a{i}: providers {{ name }}" for i in range(31)) + " }",
            "maxAliases",
            "31 aliases found; the limit (maxAliases) is 30.",
        ),
    ],
)
def test_each_refusal_names_its_limit_and_value(query: str, limit: str, message: str) -> None:
    got, extensions = refusal(query)

    assert got == message
    assert extensions["limit"] == limit


def test_same_names_are_counted_through_fragments() -> None:
    fragments = " ".join(f"fragment S{i} on Session {{ id }}" for i in range(60))
    spreads = " ".join(f"...S{i}" for i in range(60))
    message, extensions = refusal(f"{{ sessions {{ nodes {{ {spreads} }} }} }} {fragments}")

    assert extensions["limit"] == "maxSameName"
    assert "'id' is selected 60 times" in message


def test_depth_ignores_introspection_and_counts_through_fragments() -> None:
    deep = "fragment D on Session { " + "parent { " * 14 + "id" + " }" * 14 + " }"
    _, extensions = refusal("{ sessions { nodes { ...D } } } " + deep)
    introspection = "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"

    assert extensions["limit"] == "maxDepth"
    assert check_document(parse(introspection), DocumentLimits(max_depth=2)) is None


def test_spreads_nested_past_graphql_cores_ceiling_are_refused() -> None:
    chain = "fragment G0 on Query { providers { name } } " + " ".join(
        f"fragment G{i} on Query {{ ...G{i - 1} }}" for i in range(1, 300)
    )

    message, extensions = refusal(chain + " { ...G299 }", DocumentLimits(max_spreads=400))

    assert extensions == {"code": "QUERY_TOO_COMPLEX", "limit": "maxNesting", "max": 200}
    assert "more than 200 levels deep" in message


def test_a_fragment_cycle_is_left_to_validation() -> None:
    query = "{ sessions { nodes { ...A } } } fragment A on Session { ...B } "
    query += "fragment B on Session { ...A id }"

    assert check_document(parse(query), DocumentLimits()) is None


def test_cost_measures_each_fragment_once() -> None:
    # The flat fan-out is what execution runs: the innermost two fields once per node.
    cost, _ = estimate(parse(fan_out(20, nested=False)), {})
    assert cost == 1 + 1 + 1 * (0 + 2)  # sessions, nodes, one node x (id, createdAt)


@pytest.mark.parametrize(
    ("arguments", "selection", "reads"),
    [
        ("first: 1", "nodes { id }", 1),
        ("first: 1, filter: {providers: [ZITADEL]}", "totalCount", 1),
        ('first: 1, filter: {userAgent: "nothing"}', "nodes { id }", RESIDUAL_READS),
        ("first: 1, filter: {statuses: [ACTIVE]}", "totalCount", 2 * RESIDUAL_READS),
        ("first: 1, filter: {statuses: null}", "totalCount", 1),
        ('first: 1, filter: {countries: ["DE"]}', "nodes { id }", RESIDUAL_READS),
        ("first: 1, filter: {asns: [64500]}", "totalCount", 2 * RESIDUAL_READS),
        ('first: 1, filter: {lastSeenAt: {since: "2026-01-01T00:00:00Z"}}', "nodes { id }", 5),
        ("first: 1, filter: {signals: [NEW_DEVICE]}", "nodes { id }", RESIDUAL_READS + SCAN_READS),
    ],
)
def test_upstream_calls_are_priced_per_listing(arguments: str, selection: str, reads: int) -> None:
    query = f"{{ a: sessions({arguments}) {{ {selection} }} b: sessions({arguments}) {{ ...T }} }}"
    query += f" fragment T on SessionConnection {{ {selection} }}"

    _, calls = estimate(parse(query), {}, listings=5)

    assert calls == 2 * 5 * reads


def test_a_persons_sessions_are_priced_like_sessions() -> None:
    query = (
        "{ viewer { sessions { nodes { id } } person { sessions { totalCount } } } "
        "person(id: 1) { ...P } } fragment P on Person { sessions { nodes { id } } }"
    )

    _, calls = estimate(parse(query), {}, listings=5)

    assert calls == 3 * 5


def test_a_filter_in_a_variable_is_priced_by_its_value() -> None:
    query = "query ($f: SessionFilterInput) { sessions(filter: $f) { totalCount } }"

    assert estimate(parse(query), {"f": {"remoteAddress": "10.0.0.0/8"}}, 4)[1] == 40
    assert estimate(parse(query), {"f": {"providers": ["PRIVX"]}}, 4)[1] == 4


def test_signals_and_devices_are_priced_per_object() -> None:
    # Each reads its person's sessions: one listing read per session (or person) below a page.
    query = (
        "{ sessions(first: 10) { nodes { signals { kind } user { person { devices { id } } } } } }"
    )

    assert estimate(parse(query), {}, 4)[1] == 4 + 10 * 2
    person = '{ person(user: {provider: KRATOS, nativeId: "k"}) { devices { id } } }'
    assert estimate(parse(person), {}, 4)[1] == 4


async def test_over_limit_documents_are_refused_without_validation() -> None:
    schema = build_schema(limits())
    assert schema.documents is not None
    upstreams = Upstreams.none()
    context = Context.create(upstreams, CursorCodec(b"k"))

    result = await schema.execute(fan_out(25, nested=True), context_value=context)

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "maxFields",
        "max": 1000,
    }
    assert schema.documents.validations == 0


async def test_several_operations_need_an_operation_name() -> None:
    schema = build_schema(limits())
    upstreams = Upstreams.none()
    query = "query A { providers { name } } query B { providers { provider } }"

    anonymous = await schema.execute(
        query, context_value=Context.create(upstreams, CursorCodec(b"k"))
    )
    named = await schema.execute(
        query, operation_name="B", context_value=Context.create(upstreams, CursorCodec(b"k"))
    )

    assert anonymous.errors is not None
    assert anonymous.errors[0].message == (
        "Must provide operation name if query contains multiple operations."
    )
    assert anonymous.data is None
    assert named.errors is None
    assert named.data is not None
    assert "provider" in named.data["providers"][0]


async def test_spreads_that_end_in_no_fields_are_priced_in_linear_time() -> None:
    # Fields count nothing here (the last level spreads an unknown fragment), so no shape limit
    # stops it: only measuring each fragment once keeps 2**40 paths from being walked.
    levels = 40
    fragments = [
        f"fragment F{i}{side} on Query {{ ...F{i + 1}a ...F{i + 1}b }}"
        for i in range(levels)
        for side in "ab"
    ]
    fragments += [f"fragment F{levels}{side} on Query {{ ...Missing }}" for side in "ab"]
    query = "query Q { ...F0a }\n" + "\n".join(fragments)
    schema = build_schema(limits())
    context = Context.create(Upstreams.none(), CursorCodec(b"k"))

    result = await schema.execute(query, context_value=context)

    assert result.errors is not None
    assert result.errors[0].message == "Unknown fragment 'Missing'."
    assert estimate(parse(query), {}, 5) == (0, 0)
