"""Nested fields of a full page cost a constant number of upstream calls, counted at the mocks."""

from __future__ import annotations

import pytest

from app.core.records import Provider
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

FULL_PAGE = """
query FullPage($first: Int!) {
  sessions(first: $first) {
    edges {
      node {
        id
        provider
        user { id nativeId loginName displayName }
        parent { id nativeId }
        children { id parent { id } }
        authorizations(first: 10) { totalCount edges { node { kind id siteName appHardwareName } } }
        userAgent { browserName osName deviceType }
        factors { password { verifiedAt } webAuthN { userVerified } }
      }
    }
  }
}
"""


def test_a_nested_page_of_100_costs_two_calls_per_provider_at_most(
    live: LiveStack,
) -> None:
    result = post(live.url, FULL_PAGE, {"first": 100})

    assert "errors" not in result, result.get("errors")
    nodes = [e["node"] for e in result["data"]["sessions"]["edges"]]
    assert len(nodes) == 100
    assert any(n["parent"] for n in nodes)  # child sessions resolved their parent
    assert any(n["children"] for n in nodes) or any(n["parent"] for n in nodes)
    assert any(n["authorizations"]["totalCount"] for n in nodes if n["provider"] == "HYPERID")
    pools = len(live.mocks.data.prefactor_pool_ids)
    assert len(live.calls("PRIVX")) <= 2
    assert len(live.calls("ZITADEL")) == 1
    assert len(live.calls("HYPERID")) == 1  # the listing also carries the app authorizations
    assert len(live.calls("PREFACTOR")) <= 2 * pools
    for provider in Provider:
        assert len(live.calls(provider.value)) <= 2 * max(pools, 1)


def test_child_sessions_point_at_their_parent(live: LiveStack) -> None:
    data = live.mocks.data
    child = next(s for s in data.privx if s.get("type") == "child" and s.get("parent_session_id"))
    query = """
    query ($filter: SessionFilterInput) {
      sessions(first: 100, filter: $filter) {
        edges { node { nativeId parent { nativeId children { nativeId } } } }
      }
    }"""
    users = [{"provider": "PRIVX", "nativeId": child["user_id"]}]

    result = post(live.url, query, {"filter": {"users": users}})

    nodes = {e["node"]["nativeId"]: e["node"] for e in result["data"]["sessions"]["edges"]}
    parent = nodes[child["id"]]["parent"]
    assert parent["nativeId"] == child["parent_session_id"]
    assert child["id"] in [c["nativeId"] for c in parent["children"]]


def test_every_parent_and_child_on_a_page_is_the_upstreams(live: LiveStack) -> None:
    query = """
    { sessions(first: 100, filter: {providers: [PRIVX]}) {
        nodes { nativeId parent { nativeId } children { nativeId } } } }"""
    privx = {s["id"]: s for s in live.mocks.data.privx}

    result = post(live.url, query)

    assert "errors" not in result, result.get("errors")
    nodes = result["data"]["sessions"]["nodes"]
    assert any(n["children"] for n in nodes)
    assert len(live.calls("PRIVX")) == 2  # the page, then one listing for every relative
    for node in nodes:
        session = privx[node["nativeId"]]
        parent = privx.get(session.get("parent_session_id") or "")
        expected_parent = (
            parent["id"] if parent and parent["user_id"] == session["user_id"] else None
        )
        assert (node["parent"] or {}).get("nativeId") == expected_parent
        kids = {
            s["id"]
            for s in privx.values()
            if s.get("parent_session_id") == session["id"] and s["user_id"] == session["user_id"]
        }
        assert {c["nativeId"] for c in node["children"]} == kids


def test_relatives_of_relatives_pick_from_the_same_listing(live: LiveStack) -> None:
    # A short page: its sessions' relatives are not on it, so they come in a second batch.
    query = """
    { sessions(first: 3, filter: {providers: [PRIVX]}) { nodes {
        children { parent { nativeId } children { nativeId } }
        parent { children { nativeId parent { nativeId } } } } } }"""

    result = post(live.url, query)

    assert "errors" not in result, result.get("errors")
    assert any(n["children"] or n["parent"] for n in result["data"]["sessions"]["nodes"])
    assert len(live.calls("PRIVX")) == 2  # the page, then one listing for every generation
