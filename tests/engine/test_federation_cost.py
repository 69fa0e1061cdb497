"""Pricing of `_entities` and of users' `sessions` before validation (resolvers/engine/cost.py)."""

from __future__ import annotations

from graphql import parse

from resolvers.engine.cost import Prices, estimate

ENTITIES = """
query ($r: [_Any!]!) {
  _entities(representations: $r) { ... on SessionUser { loginName displayName } }
}
"""
USER_SESSIONS = """
query ($r: [_Any!]!) {
  _entities(representations: $r) {
    ... on SessionUser { sessions(first: 10) { nodes { id } } }
  }
}
"""


def users(n: int) -> list[dict[str, str]]:
    return [
        {"__typename": "SessionUser", "provider": "PRIVX", "nativeId": str(i)} for i in range(n)
    ]


def test_entities_cost_an_object_each_and_a_listing_per_provider() -> None:
    assert estimate(parse(ENTITIES), {"r": users(100)}, listings=5) == (1 + 100 * 2, 5)
    assert estimate(parse(ENTITIES), {"r": users(2)}, listings=5) == (1 + 2 * 2, 2)


def test_a_literal_list_of_representations_counts_too() -> None:
    query = """{ _entities(representations: [{__typename: "Session", id: "a"},
                                            {__typename: "Session", id: "b"}]) { __typename } }"""
    assert estimate(parse(query), {}, listings=5) == (3, 2)


def test_each_users_sessions_read_that_users_listing() -> None:
    cost, calls = estimate(parse(USER_SESSIONS), {"r": users(30)}, listings=5)

    assert calls == 5 + 30
    assert cost == 1 + 30 * (1 + 10 * 2)  # sessions, then nodes and id per session


def test_users_sessions_under_a_page_are_priced_per_user() -> None:
    query = """
    fragment Mine on SessionUser { sessions(first: 5, filter: {statuses: [ACTIVE]}) { totalCount } }
    { sessions(first: 40) { nodes { user { ...Mine } } } }
    """
    _, calls = estimate(parse(query), {}, listings=5)

    assert calls == 5 + 40 * 10  # a gateway-side filter with totalCount: 10 reads per user


def test_entities_with_sessions_past_the_call_limit_are_refused() -> None:
    refusal = Prices(max_calls=100).check(parse(USER_SESSIONS), {"r": users(100)}, 5)

    assert refusal is not None
    assert refusal.extensions == {
        "code": "QUERY_TOO_COSTLY",
        "limit": "maxUpstreamCalls",
        "upstreamCalls": 105,
        "max": 100,
    }
