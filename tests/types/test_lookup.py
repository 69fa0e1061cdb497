"""`session(id)`, `node(id)` and `providers` over real HTTP."""

from __future__ import annotations

import pytest

from app.core import ids
from app.core.records import Provider
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

SESSION = """
query ($id: ID!) {
  session(id: $id) {
    id provider nativeId status createdAt expiresAt remoteAddress
    user { id nativeId loginName }
    userAgent { raw description browserName osName deviceType }
    factors { user { verifiedAt } password { verifiedAt } }
    metadata { key text }
    extras { __typename }
  }
}
"""


def test_session_by_id_for_each_provider(live: LiveStack) -> None:
    data = live.mocks.data
    natives = {
        Provider.PRIVX: data.privx[0]["id"],
        Provider.PREFACTOR: data.prefactor[0]["id"],
        Provider.ZITADEL: data.zitadel[0]["id"],
        Provider.HYPERID: str(data.hyperid_sessions[0]["sessionID"]),
    }
    for provider, native_id in natives.items():
        global_id = ids.encode(ids.SESSION, provider, native_id)
        result = post(live.url, SESSION, {"id": global_id})
        assert "errors" not in result, result["errors"]
        session = result["data"]["session"]
        assert session["id"] == global_id
        assert session["provider"] == provider.value
        assert session["nativeId"] == native_id
        assert session["extras"]["__typename"].lower().startswith(provider.value.lower()[:5])


def test_zitadel_lookups_are_batched_into_one_ids_query(live: LiveStack) -> None:
    natives = [s["id"] for s in live.mocks.data.zitadel[:5]]
    aliases = " ".join(
        f's{i}: session(id: "{ids.encode(ids.SESSION, Provider.ZITADEL, n)}") {{ nativeId }}'
        for i, n in enumerate(natives)
    )

    result = post(live.url, f"{{ {aliases} }}")

    assert [result["data"][f"s{i}"]["nativeId"] for i in range(5)] == natives
    assert len(live.calls("ZITADEL")) == 1


def test_unknown_session_is_null_and_malformed_id_is_an_error(live: LiveStack) -> None:
    unknown = ids.encode(ids.SESSION, Provider.ZITADEL, "1")
    assert post(live.url, SESSION, {"id": unknown}) == {"data": {"session": None}}

    user_id = ids.encode(ids.USER, Provider.ZITADEL, "1")
    wrong_kind = post(live.url, SESSION, {"id": user_id})
    assert wrong_kind["errors"][0]["message"] == (
        f"'{user_id}' is the id of a SessionUser, not of a Session."
    )


def test_node_refetches_sessions_and_users(live: LiveStack) -> None:
    item = next(s for s in live.mocks.data.zitadel if "factors" in s)
    session_id = ids.encode(ids.SESSION, Provider.ZITADEL, item["id"])
    user_id = ids.encode(ids.USER, Provider.ZITADEL, item["factors"]["user"]["id"])
    query = """
    query ($a: ID!, $b: ID!) {
      a: node(id: $a) { id ... on Session { nativeId } }
      b: node(id: $b) { id ... on SessionUser { loginName } }
    }"""

    result = post(live.url, query, {"a": session_id, "b": user_id})

    assert result["data"]["a"] == {"id": session_id, "nativeId": item["id"]}
    assert result["data"]["b"] == {
        "id": user_id,
        "loginName": item["factors"]["user"]["loginName"],
    }


def test_providers_report_enabled_and_health(live: LiveStack) -> None:
    post(live.url, "{ sessions(first: 1) { totalCount } }")

    result = post(live.url, "{ providers { provider name enabled health latencyMs } }")

    providers = {p["provider"]: p for p in result["data"]["providers"]}
    assert set(providers) == {"PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS"}
    assert all(p["enabled"] and p["health"] == "UP" for p in providers.values())
    assert all(p["latencyMs"] is not None for p in providers.values())
