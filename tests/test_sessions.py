"""`sessions` over real HTTP: merge, order, filters, cursors and their errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app import ids
from app.listing.filter import SessionFilter, TimeRange
from app.upstream.records import Provider, SessionStatus
from tests.expected import all_records, expected_ids
from tests.live import LiveStack, post

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String,
           $filter: SessionFilterInput, $orderBy: SessionOrder) {
  sessions(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id provider createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def test_first_page_merges_all_four_providers_newest_first(live: LiveStack) -> None:
    result = post(live.url, PAGE, {"first": 100})

    assert "errors" not in result
    connection = result["data"]["sessions"]
    everything = expected_ids(live.mocks.data, SessionFilter(), descending=True)
    assert connection["totalCount"] == len(everything) == len(all_records(live.mocks.data))
    assert [e["node"]["id"] for e in connection["edges"]] == everything[:100]
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["pageInfo"]["hasPreviousPage"] is False
    assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]


def test_a_page_costs_one_call_per_provider(live: LiveStack) -> None:
    first = post(live.url, PAGE, {"first": 20, "orderBy": {"direction": "ASC"}})
    live.reset_calls()

    post(
        live.url,
        PAGE,
        {
            "first": 20,
            "after": first["data"]["sessions"]["pageInfo"]["endCursor"],
            "orderBy": {"direction": "ASC"},
        },
    )

    calls = {p.value: len(live.calls(p.value)) for p in Provider}
    assert calls["PRIVX"] == 1
    assert calls["ZITADEL"] == 1
    assert calls["HYPERID"] == 1
    assert calls["PREFACTOR"] == len(live.mocks.data.prefactor_pool_ids)  # one list per pool


def test_filter_naming_only_privx_users_calls_no_other_provider(live: LiveStack) -> None:
    user_id = live.mocks.data.privx[0]["user_id"]
    user = ids.encode(ids.USER, Provider.PRIVX, user_id)

    result = post(live.url, PAGE, {"first": 50, "filter": {"userIds": [user]}})

    assert "errors" not in result
    wanted = SessionFilter(users=frozenset({(Provider.PRIVX, user_id)}))
    assert [e["node"]["id"] for e in result["data"]["sessions"]["edges"]] == expected_ids(
        live.mocks.data, wanted, descending=True
    )[:50]
    assert live.calls("PRIVX")
    assert not live.calls("PREFACTOR")
    assert not live.calls("ZITADEL")
    assert not live.calls("HYPERID")


def test_prefactor_identity_that_is_not_a_pfid_matches_nothing(live: LiveStack) -> None:
    users = [{"provider": "PREFACTOR", "nativeId": "not-a-pfid"}]

    result = post(live.url, PAGE, {"filter": {"users": users}})

    assert result["data"]["sessions"]["totalCount"] == 0
    assert not live.calls("PREFACTOR")


def test_filters_by_status_time_address_and_agent(live: LiveStack) -> None:
    since = datetime.now(UTC).replace(microsecond=0).isoformat()
    variables = {
        "first": 100,
        "filter": {
            "statuses": ["ACTIVE", "PENDING"],
            "expiresAt": {"since": since},
            "remoteAddress": "203.0.113.0/24",
            "userAgent": "mozilla",
        },
    }

    result = post(live.url, PAGE, variables)

    assert "errors" not in result
    wanted = SessionFilter(
        statuses=frozenset({SessionStatus.ACTIVE, SessionStatus.PENDING}),
        expires=TimeRange(since=datetime.fromisoformat(since)),
        remote_address=__import__("ipaddress").ip_network("203.0.113.0/24"),
        user_agent="mozilla",
    )
    expected = expected_ids(live.mocks.data, wanted, descending=True)
    got = [e["node"]["id"] for e in result["data"]["sessions"]["edges"]]
    assert got == expected[:100]
    assert result["data"]["sessions"]["totalCount"] == len(expected)
    assert expected  # the mock data exercises this filter


def test_tampered_cursor_is_rejected_precisely(live: LiveStack) -> None:
    cursor = post(live.url, PAGE, {"first": 2})["data"]["sessions"]["pageInfo"]["endCursor"]
    version, payload, signature = cursor.split(".")
    tampered = f"{version}.{payload[:-2]}AA.{signature}"

    result = post(live.url, PAGE, {"first": 2, "after": tampered})

    assert result["data"] is None
    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "`after` has an invalid signature" in error["message"]


def test_cursor_reused_with_another_filter_is_rejected(live: LiveStack) -> None:
    cursor = post(live.url, PAGE, {"first": 2})["data"]["sessions"]["pageInfo"]["endCursor"]

    result = post(live.url, PAGE, {"first": 2, "after": cursor, "filter": {"providers": ["PRIVX"]}})

    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "different filter, orderBy" in result["errors"][0]["message"]
    other_order = post(
        live.url, PAGE, {"first": 2, "after": cursor, "orderBy": {"direction": "ASC"}}
    )
    assert "different filter, orderBy" in other_order["errors"][0]["message"]


def test_page_size_and_direction_misuse_get_precise_errors(live: LiveStack) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": 101}, "`first` must be between 1 and 100, got 101."),
        ({"last": 0}, "`last` must be between 1 and 100, got 0."),
        ({"first": 1, "last": 1}, "Pass either `first` or `last`, not both."),
        (
            {"first": 1, "before": "x"},
            "`first` pages forward from `after`; use `last` with `before`.",
        ),
        ({"after": "not-a-cursor"}, "`after` is not a cursor issued by this gateway."),
        ({"after": "2.abc.\u00e9"}, "`after` has an invalid signature"),
        ({"filter": {"ids": ["nope"]}}, "'nope' is not a valid global id."),
        ({"filter": {"remoteAddress": "300.1.1.1"}}, "remoteAddress '300.1.1.1' is not an IP"),
    ]
    for variables, message in cases:
        result = post(live.url, PAGE, variables)
        assert result["data"] is None, variables
        assert result["errors"][0]["message"].startswith(message), result["errors"][0]
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_last_without_before_returns_the_oldest_sessions(live: LiveStack) -> None:
    result = post(live.url, PAGE, {"last": 30})

    everything = expected_ids(live.mocks.data, SessionFilter(), descending=True)
    page = result["data"]["sessions"]
    assert [e["node"]["id"] for e in page["edges"]] == everything[-30:]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False
