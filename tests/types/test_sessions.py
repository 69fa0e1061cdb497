"""`sessions` over real HTTP: merge, order, filters, cursors and their errors.

Answers are checked against tests/support/world.py, a small world written by hand with its expected
sessions; filters also against predicates written here over that world's raw upstream JSON.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from app.core.records import Provider
from tests.support import world
from tests.support.live import LiveStack, post
from tests.support.raw import RawSession, raw_sessions
from tests.support.world import NEWEST_FIRST, SESSIONS, Expected

pytestmark = pytest.mark.server

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String,
           $filter: SessionFilterInput, $orderBy: SessionOrder) {
  sessions(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id provider nativeId status createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
ASC = {"direction": "ASC"}


@pytest.fixture(scope="module")
def small() -> Iterator[LiveStack]:
    with LiveStack(data=world.small_world()) as live:
        yield live


def sessions(page: dict[str, Any]) -> list[Expected]:
    """A page's sessions in the shape of tests/support/world.py's expectations."""
    return [
        Expected(n["provider"], n["nativeId"], n["status"], n["createdAt"])
        for n in (e["node"] for e in page["edges"])
    ]


def test_all_four_providers_merged_newest_first_with_their_statuses(small: LiveStack) -> None:
    result = post(small.url, PAGE, {"first": 100})

    assert "errors" not in result
    page = result["data"]["sessions"]
    assert sessions(page) == NEWEST_FIRST
    assert page["totalCount"] == 12
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


def test_oldest_first(small: LiveStack) -> None:
    result = post(small.url, PAGE, {"first": 100, "orderBy": ASC})

    assert sessions(result["data"]["sessions"]) == NEWEST_FIRST[::-1]


@pytest.mark.parametrize("size", [1, 5, 6, 7, 11])
@pytest.mark.parametrize("order", [None, ASC])
def test_pages_continue_where_the_last_one_ended(
    small: LiveStack, size: int, order: dict[str, str] | None
) -> None:
    # Size 6 ends a newest-first page between PrivX's P2 and hyper.id's H2, created in the
    # same second.
    everything = NEWEST_FIRST if order is None else NEWEST_FIRST[::-1]
    seen: list[Expected] = []
    after = None
    while True:
        page = post(small.url, PAGE, {"first": size, "after": after, "orderBy": order})
        page = page["data"]["sessions"]
        seen += sessions(page)
        assert page["totalCount"] == 12
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == everything


def test_last_without_before_returns_the_oldest_sessions(small: LiveStack) -> None:
    result = post(small.url, PAGE, {"last": 4})

    page = result["data"]["sessions"]
    assert sessions(page) == NEWEST_FIRST[-4:]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False


def test_last_before_walks_back(small: LiveStack) -> None:
    first = post(small.url, PAGE, {"first": 7})["data"]["sessions"]
    before = first["pageInfo"]["endCursor"]

    result = post(small.url, PAGE, {"last": 3, "before": before})

    assert sessions(result["data"]["sessions"]) == NEWEST_FIRST[3:6]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _in(network: str) -> Callable[[RawSession], bool]:
    return lambda r: (
        r.ip is not None and ipaddress.ip_address(r.ip) in ipaddress.ip_network(network)
    )


def _agent(text: str) -> Callable[[RawSession], bool]:
    return lambda r: any(text.casefold() in t.casefold() for t in r.agent if t)


def _status(*statuses: str) -> Callable[[RawSession], bool]:
    return lambda r: SESSIONS[r.provider, r.native_id].status in statuses


def _created(since: str, until: str) -> Callable[[RawSession], bool]:
    def check(r: RawSession) -> bool:
        created = _time(SESSIONS[r.provider, r.native_id].created_at)
        return _time(since) <= created < _time(until)

    return check


def _expires(since: str | None = None, until: str | None = None) -> Callable[[RawSession], bool]:
    def check(r: RawSession) -> bool:  # a session that never expires is in no range
        if r.expires is None:
            return False
        expires = _time(r.expires)
        return (since is None or _time(since) <= expires) and (
            until is None or expires < _time(until)
        )

    return check


FILTERS: list[tuple[str, dict[str, Any], Callable[[RawSession], bool]]] = [
    (
        "providers",
        {"providers": ["PRIVX", "HYPERID"]},
        lambda r: r.provider in {"PRIVX", "HYPERID"},
    ),
    ("statuses", {"statuses": ["ACTIVE", "PENDING"]}, _status("ACTIVE", "PENDING")),
    (
        "ended",
        {"statuses": ["EXPIRED", "LOGGED_OUT", "REVOKED"]},
        _status("EXPIRED", "LOGGED_OUT", "REVOKED"),
    ),
    (
        "users",
        {
            "users": [
                {"provider": "PRIVX", "nativeId": world.ALICE},
                {"provider": "PREFACTOR", "nativeId": world.CAROL},
            ]
        },
        lambda r: (r.provider, r.user) in {("PRIVX", world.ALICE), ("PREFACTOR", world.CAROL)},
    ),
    (
        "hyperid user",
        {"users": [{"provider": "HYPERID", "nativeId": "current"}]},
        lambda r: r.provider == "HYPERID",
    ),
    (
        "zitadel user",
        {"users": [{"provider": "ZITADEL", "nativeId": world.DAVE}]},
        lambda r: r.user == world.DAVE,
    ),
    ("network", {"remoteAddress": "203.0.113.0/24"}, _in("203.0.113.0/24")),
    ("ipv6", {"remoteAddress": "2001:db8::/32"}, _in("2001:db8::/32")),
    ("address", {"remoteAddress": "198.51.100.7"}, _in("198.51.100.7/32")),
    ("iphone", {"userAgent": "iPhone"}, _agent("iphone")),
    ("firefox", {"userAgent": "FIREFOX"}, _agent("firefox")),
    ("chrome", {"userAgent": "chrome"}, _agent("chrome")),
    (
        "created",
        {"createdAt": {"since": "2025-03-02T10:00:00Z", "until": "2025-03-04T16:45:30.5Z"}},
        _created("2025-03-02T10:00:00Z", "2025-03-04T16:45:30.5Z"),
    ),
    (
        "expired before",
        {"expiresAt": {"until": "2026-01-01T00:00:00Z"}},
        _expires(until="2026-01-01T00:00:00Z"),
    ),
    (
        "expires after",
        {"expiresAt": {"since": "2026-01-01T00:00:00Z"}},
        _expires(since="2026-01-01T00:00:00Z"),
    ),
    (
        "all at once",
        {
            "statuses": ["ACTIVE", "PENDING"],
            "expiresAt": {"since": "2026-01-01T00:00:00Z"},
            "remoteAddress": "203.0.113.0/24",
            "userAgent": "mozilla",
        },
        lambda r: all(
            check(r)
            for check in (
                _status("ACTIVE", "PENDING"),
                _expires(since="2026-01-01T00:00:00Z"),
                _in("203.0.113.0/24"),
                _agent("mozilla"),
            )
        ),
    ),
]


@pytest.mark.parametrize(
    ("variables", "wanted"), [(v, w) for _, v, w in FILTERS], ids=[n for n, _, _ in FILTERS]
)
def test_filters_agree_with_predicates_over_the_raw_json(
    small: LiveStack, variables: dict[str, Any], wanted: Callable[[RawSession], bool]
) -> None:
    raw = {(r.provider, r.native_id): r for r in raw_sessions(world.small_world())}
    expected = [s for s in NEWEST_FIRST if wanted(raw[s.provider, s.native_id])]

    result = post(small.url, PAGE, {"first": 100, "filter": variables})

    assert "errors" not in result, result["errors"]
    assert sessions(result["data"]["sessions"]) == expected
    assert result["data"]["sessions"]["totalCount"] == len(expected)
    assert 0 < len(expected) < 12  # each filter keeps some sessions and drops others


def test_status_time_address_and_agent_together(small: LiveStack) -> None:
    variables = {
        "first": 100,
        "filter": {
            "statuses": ["ACTIVE", "PENDING"],
            "expiresAt": {"since": "2026-01-01T00:00:00Z"},
            "remoteAddress": "203.0.113.0/24",
            "userAgent": "mozilla",
        },
    }

    result = post(small.url, PAGE, variables)

    # P3 is in the network and expires in 2099, but logged out; H1 has no raw User-Agent;
    # F1 never expires (Prefactor sessions have no expiry).
    assert [(s.provider, s.native_id) for s in sessions(result["data"]["sessions"])] == [
        ("PRIVX", world.P1),
        ("ZITADEL", world.Z1),
    ]


def test_filter_naming_only_privx_users_calls_no_other_provider(small: LiveStack) -> None:
    small.reset_calls()
    users = [{"provider": "PRIVX", "nativeId": world.ALICE}]

    result = post(small.url, PAGE, {"first": 50, "filter": {"users": users}})

    assert [(s.provider, s.native_id) for s in sessions(result["data"]["sessions"])] == [
        ("PRIVX", world.P3),
        ("PRIVX", world.P1),
    ]
    assert small.calls("PRIVX")
    assert not small.calls("PREFACTOR")
    assert not small.calls("ZITADEL")
    assert not small.calls("HYPERID")


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


def test_prefactor_identity_that_is_not_a_pfid_matches_nothing(live: LiveStack) -> None:
    users = [{"provider": "PREFACTOR", "nativeId": "not-a-pfid"}]

    result = post(live.url, PAGE, {"filter": {"users": users}})

    assert result["data"]["sessions"]["totalCount"] == 0
    assert not live.calls("PREFACTOR")


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
