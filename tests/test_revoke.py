"""Mutations end sessions at their upstream; each test gets its own stack (they change data)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import ids
from app.upstream.records import Provider
from tests.live import LiveStack, post

REVOKE = """
mutation ($id: ID!) {
  revokeSession(id: $id) {
    __typename
    ... on SessionRevoked { id session { status } }
    ... on SessionNotFound { message }
    ... on RevokeRefused { message }
  }
}
"""
REVOKE_USER = """
mutation ($id: ID!) { revokeUserSessions(userId: $id) { userId revokedCount } }
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
        (Provider.ZITADEL, data.zitadel[0]["id"], None),  # deleted: gone upstream
        (Provider.HYPERID, str(data.hyperid_sessions[0]["sessionID"]), None),
    ]
    for provider, native_id, status in cases:
        global_id = ids.encode(ids.SESSION, provider, native_id)
        result = post(own.url, REVOKE, {"id": global_id})["data"]["revokeSession"]
        assert result["__typename"] == "SessionRevoked", (provider, result)
        if status is not None:
            assert result["session"] == {"status": status}
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
    count = sum(
        1 for s in own.mocks.data.zitadel if s.get("factors", {}).get("user", {}).get("id") == user
    )

    result = post(own.url, REVOKE_USER, {"id": user_id})

    assert result["data"]["revokeUserSessions"] == {"userId": user_id, "revokedCount": count}
    left = post(
        own.url,
        "query ($f: SessionFilterInput) { sessions(filter: $f) { totalCount } }",
        {"f": {"userIds": [user_id]}},
    )
    assert left["data"]["sessions"]["totalCount"] == 0
