"""Walking every page forward and backward visits each session once, in order (property test).

The expected lists come from tests/expected.py (the adapters' parsers and SessionFilter), which
`test_expectations_agree_with_the_raw_mock_json` checks against a reading of the raw mock JSON
written here.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.core import ids
from app.core.records import Provider, SessionStatus
from app.listing.filter import SessionFilter
from app.mocks import MockData
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


class Raw(NamedTuple):
    """A session as read here from the mock JSON, per docs/upstreams.md."""

    global_id: str
    created: datetime
    provider: str
    user: str | None
    status: str
    agent: list[str]


def _global_id(provider: str, native_id: object) -> str:
    # base32hex of "S:<PROVIDER>:<native id>", lower case, unpadded (app/core/ids.py's docstring).
    raw = f"S:{provider}:{native_id}".encode()
    return base64.b32hexencode(raw).decode().rstrip("=").lower()


def _pfid_time(pfid: str) -> datetime:
    # A PFID's first 48 of 158 bits are its millisecond timestamp (app/mocks/pfid.py).
    value = 0
    for char in pfid:
        value = value * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(char)
    return datetime.fromtimestamp((value >> 110) / 1000, UTC)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # the API's DateTime keeps microseconds


def raw_sessions(data: MockData) -> list[Raw]:
    """Every session of the mock world, read from its JSON with the documented rules."""
    now = data.now
    found: list[Raw] = []
    for s in data.privx:
        expired = _time(s["expires"]) <= now
        status = "LOGGED_OUT" if s["logged_out"] else "EXPIRED" if expired else "ACTIVE"
        found.append(
            Raw(_global_id("PRIVX", s["id"]), _time(s["created"]), "PRIVX", s["user_id"],
                status, [s["user_agent"]])
        )  # fmt: skip
    prefactor_statuses = {"new": "PENDING", "unauthenticated": "PENDING",
                          "authenticated": "ACTIVE", "complete": "LOGGED_OUT",
                          "revoked": "REVOKED"}  # fmt: skip
    for s in data.prefactor:
        seen = s["last_seen"] or s["first_seen"]
        found.append(
            Raw(_global_id("PREFACTOR", s["id"]), _pfid_time(s["id"]), "PREFACTOR",
                s["authenticated_identity_id"], prefactor_statuses[s["status"]],
                [seen["user_agent"], s["title"]])
        )  # fmt: skip
    for s in data.zitadel:
        user = s.get("factors", {}).get("user")
        expires = s.get("expirationDate")
        expired = expires is not None and _time(expires) <= now
        status = "PENDING" if user is None else "EXPIRED" if expired else "ACTIVE"
        agent = s.get("userAgent", {})
        texts = [*agent.get("header", {}).get("User-Agent", {}).get("values", [])]
        found.append(
            Raw(_global_id("ZITADEL", s["id"]), _time(s["creationDate"]), "ZITADEL",
                user and user["id"], status, [*texts, agent.get("description", "")])
        )  # fmt: skip
    for s in data.hyperid_sessions:
        expires = s.get("expirationTime")
        expired = expires is not None and _time(expires) <= now
        agent = s["userAgent"]
        found.append(
            Raw(_global_id("HYPERID", s["sessionID"]), _time(s["creationTime"]), "HYPERID",
                "current", "EXPIRED" if expired else "ACTIVE",
                [agent["name"], agent["deviceName"], agent["browserName"]])
        )  # fmt: skip
    for s in data.kratos:
        expires = s.get("expires_at")
        expired = expires is not None and _time(expires.replace("Z", "+00:00")) <= now
        status = "EXPIRED" if expired else "ACTIVE" if s.get("active") else "REVOKED"
        agents = [d.get("user_agent") or "" for d in s.get("devices") or []]
        found.append(
            Raw(_global_id("KRATOS", s["id"]), _time(s["issued_at"].replace("Z", "+00:00")),
                "KRATOS", s["identity"]["id"], status, agents)
        )  # fmt: skip
    return found


def raw_order(data: MockData, wanted: Callable[[Raw], bool], descending: bool) -> list[str]:
    """Global ids of the sessions `wanted` keeps: by creation time, ties by global id."""
    kept = sorted((r.created, r.global_id) for r in raw_sessions(data) if wanted(r))
    ordered = [global_id for _, global_id in kept]
    return ordered[::-1] if descending else ordered


Filter = tuple[dict[str, Any], SessionFilter, Callable[[Raw], bool]]


def filters(data: MockData) -> list[Filter]:
    """Filters as the API takes them, as SessionFilter, and as a predicate over `Raw`."""
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
