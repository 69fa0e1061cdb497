"""SessionUser.sessions: one user's sessions, paginated and failing like `Query.sessions`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from app.mocks import Fault, FaultPlan
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

BY_FILTER = """
query ($u: [ProviderUserInput!], $statuses: [SessionStatus!]) {
  sessions(first: 100, filter: {users: $u, statuses: $statuses}) { totalCount nodes { id } }
}
"""
USER_PAGE = """
query ($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
       $filter: UserSessionFilterInput, $order: SessionOrder) {
  node(id: $id) {
    ... on SessionUser {
      sessions(first: $first, after: $after, last: $last, before: $before,
               filter: $filter, orderBy: $order) {
        totalCount
        nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
}
"""


def busiest_user(live: LiveStack, provider: str) -> dict[str, str]:
    """A user of `provider` with several sessions, as the gateway names them."""
    query = """query ($p: [Provider!]) {
      sessions(first: 100, filter: {providers: $p}) { nodes { user { id nativeId } } }
    }"""
    nodes = post(live.url, query, {"p": [provider]})["data"]["sessions"]["nodes"]
    counts = Counter(n["user"]["nativeId"] for n in nodes if n["user"])
    native, count = counts.most_common(1)[0]
    assert count >= 3, "the mock world gives some users several sessions"
    return next(n["user"] for n in nodes if n["user"] and n["user"]["nativeId"] == native)


def user_page(live: LiveStack, user: dict[str, str], **arguments: Any) -> dict[str, Any]:
    result = post(live.url, USER_PAGE, {"id": user["id"], **arguments})
    assert "errors" not in result, result["errors"]
    page: dict[str, Any] = result["data"]["node"]["sessions"]
    return page


def test_walking_user_sessions_visits_what_a_user_filter_lists(
    live: LiveStack,
) -> None:
    user = busiest_user(live, "PRIVX")
    expected = post(
        live.url, BY_FILTER, {"u": [{"provider": "PRIVX", "nativeId": user["nativeId"]}]}
    )
    ids = [n["id"] for n in expected["data"]["sessions"]["nodes"]]

    walked: list[str] = []
    after = None
    while True:
        page = user_page(live, user, first=2, after=after)
        assert page["totalCount"] == len(ids)
        walked += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    backwards = user_page(live, user, last=2, before=page["pageInfo"]["startCursor"])

    assert walked == ids
    start = len(ids) - len(page["nodes"])  # where the last page began
    assert [n["id"] for n in backwards["nodes"]] == ids[start - 2 : start]
    oldest = user_page(live, user, first=100, order={"field": "CREATED_AT", "direction": "ASC"})
    assert [n["id"] for n in oldest["nodes"]] == ids[::-1]


def test_the_filter_narrows_like_sessions(live: LiveStack) -> None:
    user = busiest_user(live, "ZITADEL")
    key = {"provider": "ZITADEL", "nativeId": user["nativeId"]}
    expected = post(live.url, BY_FILTER, {"u": [key], "statuses": ["ACTIVE"]})

    page = user_page(live, user, first=100, filter={"statuses": ["ACTIVE"]})

    assert [n["id"] for n in page["nodes"]] == [
        n["id"] for n in expected["data"]["sessions"]["nodes"]
    ]


def test_a_cursor_of_another_list_is_refused(live: LiveStack) -> None:
    user = busiest_user(live, "PRIVX")
    other = post(live.url, "{ sessions(first: 1) { pageInfo { endCursor } } }")
    cursor = other["data"]["sessions"]["pageInfo"]["endCursor"]

    result = post(live.url, USER_PAGE, {"id": user["id"], "first": 2, "after": cursor})

    assert result["data"]["node"] is None
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert result["errors"][0]["path"] == ["node", "sessions"]


def test_a_failing_provider_leaves_the_session_and_names_itself(live: LiveStack) -> None:
    session = live.mocks.data.kratos[0]
    listed = post(
        live.url,
        "query ($p: [Provider!]) { sessions(first: 1, filter: {providers: $p}) { nodes { id } } }",
        {"p": ["KRATOS"]},
    )
    session_id = listed["data"]["sessions"]["nodes"][0]["id"]
    query = """query ($id: ID!) {
      session(id: $id) { id user { sessions(first: 5) { missingProviders nodes { id } } } }
    }"""
    # The session is found by id; the user's sessions come from another Kratos endpoint.
    live.mocks.set_fault("KRATOS", FaultPlan(Fault.UNAVAILABLE, paths=("/admin/identities",)))
    try:
        result = post(live.url, query, {"id": session_id})
    finally:
        live.mocks.set_fault("KRATOS", None)

    assert session["id"]
    found = result["data"]["session"]
    assert found["id"] == session_id
    assert found["user"]["sessions"] == {"missingProviders": ["KRATOS"], "nodes": []}
    (error,) = result["errors"]
    assert error["path"] == ["session", "user", "sessions"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["provider"] == "KRATOS"


def test_bad_arguments_are_named_like_those_of_sessions(live: LiveStack) -> None:
    user = busiest_user(live, "PRIVX")
    backwards = {"createdAt": {"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}}

    for arguments, message in (
        ({"first": 0}, "`first` must be between 1 and 100, got 0."),
        ({"first": 2, "filter": backwards}, "`filter.createdAt.since` must be before"),
        ({"first": 2, "filter": {"userAgent": " "}}, "`filter.userAgent` must not be empty."),
    ):
        result = post(live.url, USER_PAGE, {"id": user["id"], **arguments})

        (error,) = result["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"].startswith(message), error["message"]
