"""The cross-provider contract, against the toy provider of tests/upstream/toy_provider.py.

Run by tests/upstream/test_toy_provider.py in an interpreter where the toy is installed (an
entry point in `session_gateway.providers`), so the registry has six providers before anything
is built; collected any other way, it skips.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from app.core import ids
from app.core.records import Provider, SessionStatus
from app.upstream.registry import PROVIDERS
from tests.support.live import LiveStack, get, post

if "TOY" not in Provider.__members__:
    pytest.skip(
        "run by tests/upstream/test_toy_provider.py, with the toy installed",
        allow_module_level=True,
    )

# Imported only after the check: importing it adds TOY.
from tests.upstream import toy_provider as toy

OFF = {
    f"GATEWAY_{kind.provider.value}_URL": "" for kind in PROVIDERS if kind is not toy.ToyProvider
}

PAGE = """query ($first: Int, $after: String, $filter: SessionFilterInput) {
  sessions(first: $first, after: $after, filter: $filter) {
    edges { node { id nativeId provider status } }
    pageInfo { hasNextPage endCursor }
  }
}"""


Gateway = tuple[LiveStack, list[dict[str, Any]]]  # the stack, and the toy upstream's sessions


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    items = toy.sessions()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    env = {
        **OFF,
        "GATEWAY_TOY_URL": f"http://127.0.0.1:{sock.getsockname()[1]}",
        "GATEWAY_FEDERATION": "true",  # the subgraph schema: the same queries, and `_entities`
        "GATEWAY_POLL_INTERVAL": "0.2",
    }
    with LiveStack(env=env) as stack:
        runner = web.AppRunner(toy.upstream(items))

        async def start() -> None:
            await runner.setup()
            await web.SockSite(runner, sock).start()

        stack.run(start())
        yield stack, items
        stack.run(runner.cleanup())


def expected(items: list[dict[str, Any]], status: SessionStatus | None = None) -> list[str]:
    now = datetime.now(UTC)
    records = [toy.parse_session(item, now) for item in items]
    records = [r for r in records if status is None or r.status is status]
    return [r.global_id for r in sorted(records, key=lambda r: r.sort_key, reverse=True)]


def walk(url: str, first: int, session_filter: dict[str, Any] | None = None) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        variables = {"first": first, "after": after, "filter": session_filter}
        body = post(url, PAGE, variables)
        assert "errors" not in body, body
        page = body["data"]["sessions"]
        found += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def test_the_registry_put_the_toy_in_the_schema(gateway: Gateway) -> None:
    stack, _ = gateway
    text = str(stack.schema)
    assert '  """Sessions from the toy upstream of the tests."""\n  TOY\n}' in text
    assert "| KratosSessionExtras | ToySessionExtras" in text
    body = post(stack.url, "{ providers { provider name enabled } }")
    assert {"provider": "TOY", "name": "Toy", "enabled": True} in body["data"]["providers"]
    assert [p["provider"] for p in body["data"]["providers"] if p["enabled"]] == ["TOY"]


@pytest.mark.parametrize("first", [1, 4, 23, 100])
def test_a_walk_pages_through_every_session_in_order(gateway: Gateway, first: int) -> None:
    stack, items = gateway
    assert walk(stack.url, first) == expected(items)


@pytest.mark.parametrize("status", [SessionStatus.ACTIVE, SessionStatus.EXPIRED])
def test_a_filtered_walk_keeps_the_matching_sessions(
    gateway: Gateway, status: SessionStatus
) -> None:
    stack, items = gateway
    found = walk(stack.url, 5, {"statuses": [status.value], "providers": ["TOY"]})
    assert found == expected(items, status)
    assert found


def test_session_by_id_and_its_extras(gateway: Gateway) -> None:
    stack, items = gateway
    global_id = expected(items)[3]
    query = """query ($id: ID!) { session(id: $id) {
      id provider nativeId user { nativeId loginName } extras { ... on ToySessionExtras { colour } }
    } }"""
    session = post(stack.url, query, {"id": global_id})["data"]["session"]
    item = next(i for i in items if i["id"] == session["nativeId"])
    assert session["id"] == global_id
    assert session["provider"] == "TOY"
    assert session["user"] == {"nativeId": item["user"], "loginName": f"{item['user']}@toy.example"}
    assert session["extras"] == {"colour": item["colour"]}


def test_an_unknown_id_is_no_session(gateway: Gateway) -> None:
    stack, _ = gateway
    unknown = ids.encode(ids.SESSION, toy.TOY, "t999")
    assert post(stack.url, "query ($id: ID!) { session(id: $id) { id } }", {"id": unknown}) == {
        "data": {"session": None}
    }


def test_revoke_ends_the_session_and_a_second_revoke_is_refused(gateway: Gateway) -> None:
    stack, items = gateway
    global_id = expected(items, SessionStatus.ACTIVE)[0]
    mutation = """mutation ($id: ID!) { revokeSession(id: $id) {
      __typename ... on SessionRevoked { session { id status } }
    } }"""
    first = post(stack.url, mutation, {"id": global_id})["data"]["revokeSession"]
    assert first == {
        "__typename": "SessionRevoked",
        "session": {"id": global_id, "status": "REVOKED"},
    }
    again = post(stack.url, mutation, {"id": global_id})["data"]["revokeSession"]
    assert again == {"__typename": "RevokeRefused"}
    assert global_id not in walk(stack.url, 50, {"statuses": ["ACTIVE"]})


def test_revoking_a_user_ends_their_open_sessions(gateway: Gateway) -> None:
    stack, items = gateway
    now = datetime.now(UTC)
    records = [toy.parse_session(item, now) for item in items if item["user"] == "bob"]
    # Not ended by anyone yet: an expired session is revoked too.
    still_open = {r.global_id for r in records if r.status is not SessionStatus.REVOKED}
    mutation = """mutation ($id: ID!) { revokeUserSessions(userId: $id) {
      revokedCount sessions { id }
    } }"""
    user_id = ids.encode(ids.USER, toy.TOY, "bob")
    result = post(stack.url, mutation, {"id": user_id})["data"]["revokeUserSessions"]
    assert result["revokedCount"] == len(still_open) > 0
    assert {s["id"] for s in result["sessions"]} == still_open
    of_bob = {"users": [{"provider": "TOY", "nativeId": "bob"}], "statuses": ["ACTIVE"]}
    assert walk(stack.url, 10, of_bob) == []


def test_federation_entities_of_the_toy(gateway: Gateway) -> None:
    stack, items = gateway
    session_id = expected(items)[5]
    query = """query ($r: [_Any!]!) { _entities(representations: $r) {
      __typename ... on Session { id provider } ... on SessionUser { provider nativeId loginName }
    } }"""
    representations = [
        {"__typename": "Session", "id": session_id},
        {"__typename": "SessionUser", "provider": "TOY", "nativeId": "cy"},
        {"__typename": "Session", "id": ids.encode(ids.SESSION, toy.TOY, "t999")},
    ]
    entities = post(stack.url, query, {"r": representations})["data"]["_entities"]
    assert entities == [
        {"__typename": "Session", "id": session_id, "provider": "TOY"},
        {
            "__typename": "SessionUser",
            "provider": "TOY",
            "nativeId": "cy",
            "loginName": "cy@toy.example",
        },
        None,
    ]


def test_readiness_probes_the_toy(gateway: Gateway) -> None:
    stack, _ = gateway
    status, _, body = get(stack.url.removesuffix("/graphql") + "/readyz")
    assert status == 200
    assert json.loads(body)["providers"]["TOY"]["ready"] is True
    health = post(stack.url, "{ providers { provider health } }")["data"]["providers"]
    assert {"provider": "TOY", "health": "UP"} in health


EVENTS = """subscription { sessionEvents(filter: {providers: [TOY]}, includeInitial: true) {
  kind sessionId provider session { status }
} }"""


def events(url: str) -> Generator[dict[str, Any]]:
    """`sessionEvents` over Server-Sent Events, one event at a time."""
    body = json.dumps({"query": EVENTS}).encode()
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        for raw in response:
            line = raw.decode().strip()
            if line.startswith("data:") and line[5:].strip():
                payload = json.loads(line[5:])
                assert "errors" not in payload, payload
                if "data" in payload:
                    yield payload["data"]["sessionEvents"]


def test_live_events_show_the_toy_sessions_and_a_revoke(gateway: Gateway) -> None:
    stack, items = gateway
    still_open = expected(items, SessionStatus.ACTIVE)
    stream = events(stack.url)
    initial = [next(stream) for _ in still_open]
    assert {e["sessionId"] for e in initial} == set(still_open)
    assert {(e["kind"], e["provider"]) for e in initial} == {("CREATED", "TOY")}
    revoke = "mutation ($id: ID!) { revokeSession(id: $id) { __typename } }"
    assert post(stack.url, revoke, {"id": still_open[-1]})["data"]["revokeSession"] == {
        "__typename": "SessionRevoked"
    }
    ended = next(e for e in stream if e["sessionId"] == still_open[-1])
    assert ended["kind"] in ("UPDATED", "ENDED")
    stream.close()
