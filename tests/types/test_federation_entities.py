"""Subgraph mode against the gateway directly: `_entities` batched, ordered and scoped."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks import Fault, FaultPlan, generate
from tests.support.digest import sha256
from tests.support.live import LiveStack, post
from tests.support.paths import ROOT

pytestmark = pytest.mark.server

ADMIN_KEY = "federation-admin-key"
ALICE_KEY = "federation-alice-key"
SUBGRAPH_FILE = ROOT / "schema.subgraph.graphql"

USERS = """
query Users($r: [_Any!]!) {
  _entities(representations: $r) {
    __typename
    ... on SessionUser { id provider nativeId loginName }
  }
}
"""


@pytest.fixture(scope="module")
def subgraph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data = generate()
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    alice = data.privx[0]["user_id"]
    keys.write_text(
        json.dumps(
            [
                {
                    "name": "admin",
                    "key_sha256": sha256(ADMIN_KEY),
                    "scopes": ["sessions:read:all"],
                },
                {
                    "name": "alice",
                    "key_sha256": sha256(ALICE_KEY),
                    "users": [{"provider": "PRIVX", "id": alice}],
                },
            ]
        )
    )
    env = {
        "GATEWAY_FEDERATION": "true",
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": str(keys),
    }
    with LiveStack(data=data, env=env) as live:
        yield live


def ask(live: LiveStack, query: str, variables: dict[str, Any], key: str = ADMIN_KEY) -> Any:
    return post(live.url, query, variables, headers={"X-API-Key": key})


def users_of(live: LiveStack, provider: str) -> list[dict[str, str]]:
    """Distinct users of `provider`'s sessions, as the gateway shows them."""
    query = """query ($p: [Provider!]) {
      sessions(first: 100, filter: {providers: $p}) { nodes { user { id nativeId } } }
    }"""
    result = ask(live, query, {"p": [provider]})
    assert "errors" not in result, result["errors"]
    nodes = result["data"]["sessions"]["nodes"]
    found = {n["user"]["nativeId"]: n["user"] for n in nodes if n["user"]}
    return list(found.values())


def test_100_users_of_four_providers_cost_one_listing_each_in_order(subgraph: LiveStack) -> None:
    providers = ["PRIVX", "ZITADEL", "PREFACTOR", "KRATOS"]
    rng = random.Random(13)
    representations: list[dict[str, str]] = []
    expected: list[tuple[str, bool]] = []  # native id, and whether it has a session
    for provider in providers:
        for i, user in enumerate(users_of(subgraph, provider)[:20]):
            if i % 2:  # both keys, mixed in one batch
                representations.append({"__typename": "SessionUser", "id": user["id"]})
            else:
                key = {"provider": provider, "nativeId": user["nativeId"]}
                representations.append({"__typename": "SessionUser", **key})
            expected.append((user["nativeId"], True))
    unknown = 0
    while len(representations) < 100:
        provider = providers[unknown % len(providers)]
        native = f"00000000-0000-4000-8000-{unknown:012d}"
        if unknown % 3:
            representations.append(
                {"__typename": "SessionUser", "provider": provider, "nativeId": native}
            )
        else:
            global_id = ids.encode(ids.USER, Provider(provider), native)
            representations.append({"__typename": "SessionUser", "id": global_id})
        expected.append((native, False))  # no session: still a user, with only its key
        unknown += 1
    order = list(range(100))
    rng.shuffle(order)
    representations = [representations[i] for i in order]
    expected = [expected[i] for i in order]
    subgraph.reset_calls()

    result = ask(subgraph, USERS, {"r": representations})

    assert "errors" not in result, result["errors"]
    entities = result["data"]["_entities"]
    assert [e["nativeId"] for e in entities] == [native for native, _ in expected]
    assert all(
        e["loginName"] is None
        for e, (_, known) in zip(entities, expected, strict=True)
        if not known
    )
    for representation, entity in zip(representations, entities, strict=True):
        if "provider" in representation:
            assert entity["provider"] == representation["provider"]
    pools = len(subgraph.mocks.data.prefactor_pool_ids)
    calls = {p: len(subgraph.calls(p)) for p in providers}
    assert calls["PREFACTOR"] <= pools, calls  # Prefactor lists per pool
    assert all(calls[p] == 1 for p in ("PRIVX", "ZITADEL", "KRATOS")), calls
    assert subgraph.calls("HYPERID") == []


def test_a_scoped_caller_gets_null_for_what_it_may_not_see(
    subgraph: LiveStack,
) -> None:
    data = subgraph.mocks.data
    alice = data.privx[0]["user_id"]
    other = next(s for s in data.privx if s["user_id"] != alice)
    own_session = ids.encode(ids.SESSION, Provider.PRIVX, data.privx[0]["id"])
    other_session = ids.encode(ids.SESSION, Provider.PRIVX, other["id"])
    representations = [
        {"__typename": "SessionUser", "provider": "PRIVX", "nativeId": other["user_id"]},
        {"__typename": "SessionUser", "provider": "PRIVX", "nativeId": alice},
        {"__typename": "Session", "id": other_session},
        {"__typename": "Session", "id": own_session},
    ]
    query = """query ($r: [_Any!]!) {
      _entities(representations: $r) {
        ... on SessionUser { nativeId sessions(first: 100) { nodes { nativeId } } }
        ... on Session { nativeId }
      }
    }"""

    scoped = ask(subgraph, query, {"r": representations}, key=ALICE_KEY)
    admin = ask(subgraph, query, {"r": representations})

    assert "errors" not in scoped, scoped["errors"]
    entities = scoped["data"]["_entities"]
    assert entities[0] is None
    assert entities[2] is None
    assert entities[1]["nativeId"] == alice
    assert entities[3] == {"nativeId": data.privx[0]["id"]}
    own = {s["id"] for s in data.privx if s["user_id"] == alice}
    assert {n["nativeId"] for n in entities[1]["sessions"]["nodes"]} <= own
    assert data.privx[0]["id"] in {n["nativeId"] for n in entities[1]["sessions"]["nodes"]}
    assert "errors" not in admin, admin["errors"]
    assert all(e is not None for e in admin["data"]["_entities"])
    # The same lookups through session(id) answer the same way.
    direct = ask(
        subgraph, "query ($id: ID!) { session(id: $id) { id } }", {"id": other_session}, ALICE_KEY
    )
    assert direct["data"] == {"session": None}


def test_a_user_without_sessions_is_an_entity_with_no_sessions(subgraph: LiveStack) -> None:
    alice = subgraph.mocks.data.privx[0]["user_id"]
    query = """query ($r: [_Any!]!) {
      _entities(representations: $r) {
        ... on SessionUser { id nativeId loginName sessions(first: 5) { totalCount nodes { id } } }
      }
    }"""
    nobody = {"__typename": "SessionUser", "provider": "ZITADEL", "nativeId": "404404404404"}
    stranger = {"__typename": "SessionUser", "provider": "PRIVX", "nativeId": "never-signed-in"}

    admin = ask(subgraph, query, {"r": [nobody, stranger]})
    scoped = ask(subgraph, query, {"r": [stranger]}, key=ALICE_KEY)

    assert "errors" not in admin, admin["errors"]
    assert admin["data"]["_entities"][0] == {
        "id": ids.encode(ids.USER, Provider.ZITADEL, "404404404404"),
        "nativeId": "404404404404",
        "loginName": None,
        "sessions": {"totalCount": 0, "nodes": []},
    }
    assert admin["data"]["_entities"][1]["sessions"] == {"totalCount": 0, "nodes": []}
    # A scoped caller still sees only its own users, with sessions or without.
    assert alice != "never-signed-in"
    assert scoped["data"]["_entities"] == [None]


def test_a_bad_representation_fails_only_its_own_entry(subgraph: LiveStack) -> None:
    user = users_of(subgraph, "ZITADEL")[0]
    representations = [
        {"__typename": "SessionUser", "provider": "NOPE", "nativeId": "x"},
        {"__typename": "SessionUser", "id": user["id"]},
        {"__typename": "Account", "id": "1"},
        {"__typename": "SessionUser"},
        {"__typename": "Session", "id": "not-a-global-id"},
    ]

    result = ask(subgraph, USERS, {"r": representations})

    entities = result["data"]["_entities"]
    assert entities[1]["nativeId"] == user["nativeId"]
    assert [entities[i] for i in (0, 2, 3, 4)] == [None] * 4
    by_index = {e["path"][1]: e for e in result["errors"]}
    assert sorted(by_index) == [0, 2, 3, 4]
    assert {e["extensions"]["code"] for e in by_index.values()} == {"BAD_USER_INPUT"}
    assert "NOPE" in by_index[0]["message"]
    assert "Account" in by_index[2]["message"]


def test_one_provider_failing_fails_only_its_entities(subgraph: LiveStack) -> None:
    privx, zitadel = users_of(subgraph, "PRIVX")[:2], users_of(subgraph, "ZITADEL")[:2]
    representations = [
        {"__typename": "SessionUser", "provider": p, "nativeId": u["nativeId"]}
        for p, group in (("PRIVX", privx), ("ZITADEL", zitadel))
        for u in group
    ]
    subgraph.mocks.set_fault("ZITADEL", FaultPlan(Fault.SERVER_ERROR))
    try:
        result = ask(subgraph, USERS, {"r": representations})
    finally:
        subgraph.mocks.set_fault("ZITADEL", None)

    entities = result["data"]["_entities"]
    assert [e and e["nativeId"] for e in entities[:2]] == [u["nativeId"] for u in privx]
    assert entities[2:] == [None, None]
    assert {tuple(e["path"]) for e in result["errors"]} == {("_entities", 2), ("_entities", 3)}
    for error in result["errors"]:
        assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert error["extensions"]["provider"] == "ZITADEL"


def test_the_service_sdl_is_schema_subgraph_graphql(subgraph: LiveStack) -> None:
    result = ask(subgraph, "{ _service { sdl } }", {})

    assert result["data"]["_service"]["sdl"] + "\n" == SUBGRAPH_FILE.read_text()
