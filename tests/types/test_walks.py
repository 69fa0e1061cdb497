"""Walking every page forward and backward visits each session once, in order (property test).

The expected lists come from tests/support/expected.py (the adapters' parsers and
SessionFilter), which `test_expectations_agree_with_the_raw_mock_json` checks against a reading
of the raw mock JSON (tests/support/raw.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.core import ids
from app.core.records import Provider, SessionStatus
from app.listing.filter import SessionFilter
from app.mocks import MockData
from tests.support.expected import expected_ids
from tests.support.live import LiveStack, post
from tests.support.raw import RawSession, raw_sessions

pytestmark = pytest.mark.server

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


def raw_order(data: MockData, wanted: Callable[[RawSession], bool], descending: bool) -> list[str]:
    """Global ids of the sessions `wanted` keeps: by creation time, ties by global id."""
    kept = sorted((r.created, r.global_id) for r in raw_sessions(data) if wanted(r))
    ordered = [global_id for _, global_id in kept]
    return ordered[::-1] if descending else ordered


Filter = tuple[dict[str, Any], SessionFilter, Callable[[RawSession], bool]]


def filters(data: MockData) -> list[Filter]:
    """Filters as the API takes them, as SessionFilter, and as a predicate over `RawSession`."""
    privx_user = data.privx[3]["user_id"]
    zitadel_user = data.zitadel[5]["factors"]["user"]["id"]
    ended = {"EXPIRED", "LOGGED_OUT", "REVOKED"}
    return [
        ({}, SessionFilter(), lambda r: True),
        (
            {"providers": ["PREFACTOR"]},
            SessionFilter(providers=frozenset({Provider.PREFACTOR})),
            lambda r: r.provider == "PREFACTOR",
        ),
        (
            {"providers": ["HYPERID", "ZITADEL"]},
            SessionFilter(providers=frozenset({Provider.HYPERID, Provider.ZITADEL})),
            lambda r: r.provider in {"HYPERID", "ZITADEL"},
        ),
        (
            {"statuses": sorted(ended)},
            SessionFilter(statuses=frozenset(SessionStatus(s) for s in ended)),
            lambda r: r.status in ended,
        ),
        (
            {
                "userIds": [ids.encode(ids.USER, Provider.PRIVX, privx_user)],
                "users": [{"provider": "ZITADEL", "nativeId": zitadel_user}],
            },
            SessionFilter(
                users=frozenset({(Provider.PRIVX, privx_user), (Provider.ZITADEL, zitadel_user)})
            ),
            lambda r: (r.provider, r.user) in {("PRIVX", privx_user), ("ZITADEL", zitadel_user)},
        ),
        (
            {"userAgent": "iPhone"},
            SessionFilter(user_agent="iPhone"),
            lambda r: any("iphone" in text.casefold() for text in r.agent if text),
        ),
    ]


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("index", range(6))
def test_expectations_agree_with_the_raw_mock_json(
    live: LiveStack, index: int, descending: bool
) -> None:
    data = live.mocks.data
    assert len(filters(data)) == 6  # one test per filter
    _, session_filter, wanted = filters(data)[index]

    expected = expected_ids(data, session_filter, descending)

    assert expected == raw_order(data, wanted, descending)
    assert expected  # every filter keeps some sessions


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
    variables, session_filter, _ = data.draw(st.sampled_from(filters(live.mocks.data)))
    expected = expected_ids(live.mocks.data, session_filter, descending)
    assume(len(expected) <= size * MAX_PAGES)
    query_vars = {"filter": variables, "orderBy": {"direction": "DESC" if descending else "ASC"}}

    assert walk(live, query_vars, size, forward=True) == expected
    assert walk(live, query_vars, size, forward=False) == expected
