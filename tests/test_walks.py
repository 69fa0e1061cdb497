"""Walking every page forward and backward visits each session once, in order (property test)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app import ids
from app.listing.filter import SessionFilter
from app.upstream.records import Provider, SessionStatus
from tests.expected import expected_ids
from tests.live import LiveStack, post

WALK = """
query Walk($first: Int, $after: String, $last: Int, $before: String,
           $filter: SessionFilterInput, $orderBy: SessionOrder) {
  sessions(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
MAX_PAGES = 40


def filters(live: LiveStack) -> st.SearchStrategy[tuple[dict[str, Any], SessionFilter]]:
    data = live.mocks.data
    privx_user = data.privx[3]["user_id"]
    zitadel_user = data.zitadel[5]["factors"]["user"]["id"]
    return st.sampled_from(
        [
            ({}, SessionFilter()),
            (
                {"providers": ["PREFACTOR"]},
                SessionFilter(providers=frozenset({Provider.PREFACTOR})),
            ),
            (
                {"providers": ["HYPERID", "ZITADEL"]},
                SessionFilter(providers=frozenset({Provider.HYPERID, Provider.ZITADEL})),
            ),
            (
                {"statuses": ["EXPIRED", "LOGGED_OUT", "REVOKED"]},
                SessionFilter(
                    statuses=frozenset(
                        {SessionStatus.EXPIRED, SessionStatus.LOGGED_OUT, SessionStatus.REVOKED}
                    )
                ),
            ),
            (
                {
                    "userIds": [ids.encode(ids.USER, Provider.PRIVX, privx_user)],
                    "users": [{"provider": "ZITADEL", "nativeId": zitadel_user}],
                },
                SessionFilter(
                    users=frozenset(
                        {(Provider.PRIVX, privx_user), (Provider.ZITADEL, zitadel_user)}
                    )
                ),
            ),
            ({"userAgent": "iPhone"}, SessionFilter(user_agent="iPhone")),
        ]
    )


def walk(live: LiveStack, variables: dict[str, Any], size: int, forward: bool) -> list[str]:
    seen: list[str] = []
    cursor = None
    totals = set()
    for _ in range(MAX_PAGES + 1):
        page_vars = {**variables, ("first" if forward else "last"): size}
        if cursor:
            page_vars["after" if forward else "before"] = cursor
        result = post(live.url, WALK, page_vars)
        assert "errors" not in result, result["errors"]
        page = result["data"]["sessions"]
        totals.add(page["totalCount"])
        got = [e["node"]["id"] for e in page["edges"]]
        seen = seen + got if forward else got + seen
        info = page["pageInfo"]
        if not (info["hasNextPage"] if forward else info["hasPreviousPage"]):
            assert len(totals) == 1
            assert totals.pop() == len(seen)
            return seen
        assert len(got) == size
        cursor = info["endCursor"] if forward else info["startCursor"]
    raise AssertionError("walk did not end")


@settings(
    max_examples=14,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), size=st.integers(1, 100), descending=st.booleans())
def test_walks_visit_every_session_once_in_order(
    live: LiveStack, data: st.DataObject, size: int, descending: bool
) -> None:
    variables, session_filter = data.draw(filters(live))
    expected = expected_ids(live.mocks.data, session_filter, descending)
    assume(len(expected) <= size * MAX_PAGES)
    query_vars = {"filter": variables, "orderBy": {"direction": "DESC" if descending else "ASC"}}

    assert walk(live, query_vars, size, forward=True) == expected
    assert walk(live, query_vars, size, forward=False) == expected
