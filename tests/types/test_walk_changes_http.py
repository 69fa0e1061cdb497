"""Walks over HTTP while the mock upstreams create and end sessions between pages.

Ground truth is read straight from the mocks' raw JSON (ids and creation times), not through the
gateway's parsers, so a wrong reading would show here.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks import generate
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

WALK = """
query Walk($first: Int, $after: String, $last: Int, $before: String, $orderBy: SessionOrder) {
  sessions(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    edges { node { id createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
_serial = itertools.count()
CHANGING_PAGES = 25


@pytest.fixture(scope="module")
def world() -> Iterator[LiveStack]:
    data = generate(
        11, privx_sessions=40, prefactor_sessions=30, zitadel_sessions=40, hyperid_sessions=10
    )
    with LiveStack(data=data) as live:
        yield live


def _zitadel_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _privx_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_sessions(live: LiveStack) -> dict[str, datetime]:
    """Global id -> creation time of every ZITADEL and PrivX session, from the raw mock JSON."""
    data = live.mocks.data
    found = {}
    for item in data.zitadel:
        found[ids.encode(ids.SESSION, Provider.ZITADEL, item["id"])] = _parse(item["creationDate"])
    for item in data.privx:
        found[ids.encode(ids.SESSION, Provider.PRIVX, item["id"])] = _parse(item["created"])
    return found


def _parse(text: str) -> datetime:
    # Second precision is enough to check order; fractions are cut to microseconds.
    head, _, _fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(tzinfo=UTC)


async def _change(live: LiveStack, turn: int, stamp: datetime, later: bool) -> None:
    """Create a session at the head and one just ahead of the cursor; delete one ahead of it."""
    data = live.mocks.data
    n = next(_serial)
    head = max(data.zitadel, key=lambda s: s["creationDate"])
    fresh = copy.deepcopy(head)
    fresh["id"] = f"9{n:017d}"
    fresh["creationDate"] = _zitadel_time(data.now + timedelta(seconds=n + 1))
    data.zitadel.append(fresh)
    # Just ahead of the cursor (in walk order), in PrivX: a new one in its gap, an old one gone.
    ahead = sorted(
        (
            s
            for s in data.privx
            if (_parse(s["created"]) > stamp) == later and _parse(s["created"]) != stamp
        ),
        key=lambda s: s["created"],
        reverse=not later,
    )
    if ahead:
        twin = copy.deepcopy(ahead[0])
        twin["id"] = f"00000000-0000-4000-8000-{n:012d}"
        data.privx.append(twin)
        if turn % 2 == 0:
            data.privx.remove(ahead[0])


def _walk(live: LiveStack, size: int, descending: bool, forward: bool) -> list[dict[str, Any]]:
    order = {"field": "CREATED_AT", "direction": "DESC" if descending else "ASC"}
    seen: list[dict[str, Any]] = []
    cursor = None
    for turn in range(2000):
        variables: dict[str, Any] = {"orderBy": order}
        variables |= (
            {"first": size, "after": cursor} if forward else {"last": size, "before": cursor}
        )
        result = post(live.url, WALK, variables)
        assert "errors" not in result, result["errors"]
        page = result["data"]["sessions"]
        edges = page["edges"] if forward else page["edges"][::-1]
        seen += [e["node"] for e in edges]
        more = page["pageInfo"]["hasNextPage" if forward else "hasPreviousPage"]
        if not edges or not more:
            return seen
        cursor = page["pageInfo"]["endCursor" if forward else "startCursor"]
        if turn < CHANGING_PAGES:  # then let the walk catch up with what was created
            stamp = datetime.fromisoformat(edges[-1]["node"]["createdAt"])
            live.run(_change(live, turn, stamp, later=descending != forward))
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("size", [1, 7, 100])
@pytest.mark.parametrize(
    ("descending", "forward"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_a_walk_while_sessions_come_and_go_visits_each_lasting_one_once(
    world: LiveStack, size: int, descending: bool, forward: bool
) -> None:
    before = raw_sessions(world)
    seen = _walk(world, size, descending, forward)
    after = raw_sessions(world)

    visited = [node["id"] for node in seen]
    assert len(visited) == len(set(visited)), "a session was returned twice"
    lasting = {g for g in before if g in after}  # existed for the whole walk
    assert lasting <= set(visited), f"skipped {len(lasting - set(visited))}"
    times = [datetime.fromisoformat(node["createdAt"]) for node in seen]
    later = descending != forward
    assert times == sorted(times, reverse=not later), "the walk went back in time"


def test_an_unchanged_walk_costs_one_call_per_listing_per_page(world: LiveStack) -> None:
    cursor = None
    costs = []
    for _ in range(5):
        world.reset_calls()
        result = post(world.url, WALK, {"first": 7, "after": cursor})
        cursor = result["data"]["sessions"]["pageInfo"]["endCursor"]
        costs.append(
            {p: len(world.calls(p)) for p in ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS")}
        )
    pools = len(world.mocks.data.prefactor_pool_ids)
    for cost in costs[1:]:  # the first page also learns each Prefactor pool's size
        # Kratos: one call per page of its listing (up to 1000 sessions), read whole.
        assert cost == {"PRIVX": 1, "PREFACTOR": pools, "ZITADEL": 1, "HYPERID": 1, "KRATOS": 1}
