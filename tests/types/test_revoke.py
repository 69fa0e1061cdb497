"""Mutations end sessions at their upstream; each test gets its own stack (they change data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks import Fault, FaultPlan
from app.mocks.privx.server import BASE as PRIVX_BASE
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

REVOKE = """
mutation ($id: ID!) {
  revokeSession(id: $id) {
    __typename
    ... on SessionRevoked { id session { id status } }
    ... on SessionNotFound { message }
    ... on RevokeRefused { message }
  }
}
"""
REVOKE_USER = """
mutation ($id: ID!) {
  revokeUserSessions(userId: $id) { userId revokedCount sessions { id status } }
}
"""


@pytest.fixture
def own() -> Iterator[LiveStack]:
    with LiveStack() as live:
        yield live


def test_revoke_one_session_of_each_provider(own: LiveStack) -> None:
    data = own.mocks.data
    privx = next(s for s in data.privx if not s.get("logged_out"))
    prefactor = next(s for s in data.prefactor if s["status"] == "authenticated")
    cases = [
        (Provider.PRIVX, privx["id"], "LOGGED_OUT"),
        (Provider.PREFACTOR, prefactor["id"], "REVOKED"),
        # Deleted upstream: answered with the session read before, ended.
        (Provider.ZITADEL, data.zitadel[0]["id"], "REVOKED"),
        (Provider.HYPERID, str(data.hyperid_sessions[0]["sessionID"]), "LOGGED_OUT"),
    ]
    for provider, native_id, status in cases:
        global_id = ids.encode(ids.SESSION, provider, native_id)
        result = post(own.url, REVOKE, {"id": global_id})["data"]["revokeSession"]
        assert result["__typename"] == "SessionRevoked", (provider, result)
        assert result["session"] == {"id": global_id, "status": status}, provider
    assert own.calls("ZITADEL")[-2].method == "DELETE"


def test_revoking_twice_is_refused_or_not_found(own: LiveStack) -> None:
    prefactor = next(s for s in own.mocks.data.prefactor if s["status"] == "revoked")
    refused = post(
        own.url, REVOKE, {"id": ids.encode(ids.SESSION, Provider.PREFACTOR, prefactor["id"])}
    )
    assert refused["data"]["revokeSession"]["__typename"] == "RevokeRefused"

    missing = post(own.url, REVOKE, {"id": ids.encode(ids.SESSION, Provider.ZITADEL, "42")})
    assert missing["data"]["revokeSession"] == {
        "__typename": "SessionNotFound",
        "message": f"No session with id '{ids.encode(ids.SESSION, Provider.ZITADEL, '42')}'.",
    }


def test_revoke_all_sessions_of_a_zitadel_user(own: LiveStack) -> None:
    user = next(s for s in own.mocks.data.zitadel if "factors" in s)["factors"]["user"]["id"]
    user_id = ids.encode(ids.USER, Provider.ZITADEL, user)
    native_ids = [
        s["id"]
        for s in own.mocks.data.zitadel
        if s.get("factors", {}).get("user", {}).get("id") == user
    ]
    ended = [
        {"id": ids.encode(ids.SESSION, Provider.ZITADEL, i), "status": "REVOKED"}
        for i in native_ids
    ]

    result = post(own.url, REVOKE_USER, {"id": user_id})["data"]["revokeUserSessions"]

    assert result["userId"] == user_id
    assert result["revokedCount"] == len(native_ids)
    assert sorted(result["sessions"], key=str) == sorted(ended, key=str)
    left = post(
        own.url,
        "query ($f: SessionFilterInput) { sessions(filter: $f) { totalCount } }",
        {"f": {"userIds": [user_id]}},
    )
    assert left["data"]["sessions"]["totalCount"] == 0


OPEN_OF_USER = """
query ($f: SessionFilterInput) {
  sessions(filter: $f, first: 100) { nodes { id user { id } } }
}
"""


@pytest.mark.parametrize(
    ("provider", "status"),
    [
        ("PRIVX", "LOGGED_OUT"),
        ("PREFACTOR", "REVOKED"),
        ("HYPERID", "LOGGED_OUT"),
        ("KRATOS", "REVOKED"),
    ],
)
def test_revoking_a_users_sessions_answers_each_ended_session(
    own: LiveStack, provider: str, status: str
) -> None:
    # Every provider says which sessions it ended, so a client cache updates them by id.
    active = {"providers": [provider], "statuses": ["ACTIVE"]}
    nodes = post(own.url, OPEN_OF_USER, {"f": active})["data"]["sessions"]["nodes"]
    user_id = next(n["user"]["id"] for n in nodes if n["user"])
    of_user = {**active, "userIds": [user_id]}
    not_ended = {**of_user, "statuses": ["ACTIVE", "EXPIRED", "PENDING"]}
    open_ids = _ids(post(own.url, OPEN_OF_USER, {"f": of_user}))
    unended_ids = _ids(post(own.url, OPEN_OF_USER, {"f": not_ended}))

    result = post(own.url, REVOKE_USER, {"id": user_id})["data"]["revokeUserSessions"]

    # The active ones at least; some upstreams also end the expired ones they still hold.
    ended_ids = {s["id"] for s in result["sessions"]}
    assert open_ids
    assert open_ids <= ended_ids <= unended_ids
    assert {s["status"] for s in result["sessions"]} == {status}
    assert result["revokedCount"] == len(ended_ids)
    assert _ids(post(own.url, OPEN_OF_USER, {"f": of_user})) == set()


def _ids(result: dict[str, Any]) -> set[str]:
    return {n["id"] for n in result["data"]["sessions"]["nodes"]}


PAIRS = """
query ($f: SessionFilterInput) {
  sessions(first: 100, filter: $f) { nodes { id parent { id status } } }
}
"""
STATUS = "query ($id: ID!) { session(id: $id) { id status } }"


@pytest.mark.parametrize("children_read", [True, False], ids=["named", "unreadable"])
def test_revoking_a_privx_parent_purges_its_cached_children(
    children_read: bool,
) -> None:
    # PrivX logs a session's children out with it. When they cannot be read after the revoke,
    # every cached answer holding a PrivX session goes instead.
    active = {"providers": ["PRIVX"], "statuses": ["ACTIVE"]}
    with LiveStack(env={"GATEWAY_RESPONSE_CACHE_TTL": "300"}) as live:
        nodes = post(live.url, PAIRS, {"f": active})["data"]["sessions"]["nodes"]
        child, parent = next(
            (n["id"], n["parent"]["id"])
            for n in nodes
            if n["parent"] and n["parent"]["status"] == "ACTIVE"
        )
        before = post(live.url, STATUS, {"id": child})  # now in the cache
        assert before["data"]["session"]["status"] == "ACTIVE"
        if not children_read:
            search = FaultPlan(Fault.SERVER_ERROR, paths=(f"{PRIVX_BASE}/sessions/search",))
            live.mocks.set_fault("PRIVX", search)

        result = post(live.url, REVOKE, {"id": parent})["data"]["revokeSession"]
        live.mocks.set_fault("PRIVX", None)
        after = post(live.url, STATUS, {"id": child})

    assert result["__typename"] == "SessionRevoked"
    assert after["data"]["session"] == {"id": child, "status": "LOGGED_OUT"}
