"""Devices and signals across providers over real HTTP, for people linked by the people file.

The world is written here: one person with a ZITADEL user and a Kratos identity, and another
person at Kratos alone. Places come from databases built in the test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from app.core import ids
from app.core.records import Provider
from app.mocks import MockData
from app.mocks.geo import Place, write_databases
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

BERLIN = Place(
    "203.0.113.0/24", "DE", "Germany", "Berlin", "Berlin", 52.52, 13.405, 20, 64501, "DE net"
)
SYDNEY = Place(
    "192.0.2.0/24", "AU", "Australia", "NSW", "Sydney", -33.87, 151.21, 50, 64504, "AU net"
)
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"

ZITADEL_USER = "300000000000000001"
KRATOS_USER = "7e0b1f52-8c77-4d2b-9a4e-3f6a1c2d5e01"
OTHER_USER = "7e0b1f52-8c77-4d2b-9a4e-3f6a1c2d5e02"
Z1, Z2 = "310000000000000001", "310000000000000002"
K1, K2, K3 = (
    "a0000000-0000-4000-8000-000000000001",
    "a0000000-0000-4000-8000-000000000002",
    "a0000000-0000-4000-8000-000000000003",
)


def zitadel(native_id: str, at: str, ip: str, agent: str, fingerprint: str) -> dict[str, Any]:
    return {
        "id": native_id,
        "creationDate": at,
        "changeDate": at,
        "sequence": "1",
        "factors": {
            "user": {
                "id": ZITADEL_USER,
                "loginName": "erin@example.com",
                "displayName": "Erin Example",
                "organizationId": "290000000000000001",
                "verifiedAt": at,
            }
        },
        "userAgent": {
            "fingerprintId": fingerprint,
            "ip": ip,
            "description": "",
            "header": {"User-Agent": {"values": [agent]}},
        },
        "expirationDate": "2099-01-01T00:00:00Z",
    }


def kratos(native_id: str, user: str, at: str, ip: str, agent: str) -> dict[str, Any]:
    return {
        "id": native_id,
        "active": True,
        "expires_at": "2099-01-01T00:00:00Z",
        "authenticated_at": at,
        "authenticator_assurance_level": "aal1",
        "authentication_methods": [{"method": "password", "aal": "aal1", "completed_at": at}],
        "issued_at": at,
        "identity": {"id": user, "schema_id": "default", "state": "active", "traits": {}},
        "devices": [{"id": native_id[::-1], "ip_address": ip, "user_agent": agent}],
    }


def world() -> MockData:
    return MockData(
        zitadel=[
            zitadel(Z1, "2025-03-01T08:00:00Z", "203.0.113.10", CHROME_MAC, "320000000000000001"),
            zitadel(
                Z2, "2025-03-03T11:00:00Z", "203.0.113.12", FIREFOX_LINUX, "320000000000000002"
            ),
        ],
        kratos=[
            # 30 minutes after Z1, in Sydney: impossible from Berlin.
            kratos(K1, KRATOS_USER, "2025-03-01T08:30:00Z", "192.0.2.20", CHROME_MAC),
            # Two days later in Berlin on Firefox; Z2 is the same device an hour later.
            kratos(K2, KRATOS_USER, "2025-03-03T10:00:00Z", "203.0.113.11", FIREFOX_LINUX),
            # Another person, in Berlin a minute after K1: nothing to do with Erin's travel.
            kratos(K3, OTHER_USER, "2025-03-01T08:31:00Z", "203.0.113.50", CHROME_MAC),
        ],
        prefactor_pool_ids=["01hkxfft003nqk8nxcxksex94qht0xd7"],
        zitadel_instance_id="280000000000000001",
        zitadel_caller_id="330000000000000001",
    )


def sid(provider: Provider, native_id: str) -> str:
    return ids.encode(ids.SESSION, provider, native_id)


ZS1, ZS2 = sid(Provider.ZITADEL, Z1), sid(Provider.ZITADEL, Z2)
KS1, KS2, KS3 = (sid(Provider.KRATOS, k) for k in (K1, K2, K3))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    directory: Path = tmp_path_factory.mktemp("signals")
    people = directory / "people.json"
    erin = [{"provider": "ZITADEL", "id": ZITADEL_USER}, {"provider": "KRATOS", "id": KRATOS_USER}]
    people.write_text(json.dumps([{"id": "erin", "users": erin}]))
    env = {**write_databases(str(directory), [BERLIN, SYDNEY]), "GATEWAY_PEOPLE_FILE": str(people)}
    with LiveStack(world(), env) as live:
        yield live


SIGNALS = """
{ sessions(first: 50, orderBy: {direction: ASC}) { nodes {
    id signals { kind detail relatedSession { id provider } }
} } }
"""


def test_signals_across_providers_for_one_person(stack: LiveStack) -> None:
    result = post(stack.url, SIGNALS)
    assert "errors" not in result, result["errors"]
    found = {n["id"]: n["signals"] for n in result["data"]["sessions"]["nodes"]}
    kinds = {global_id: [s["kind"] for s in signals] for global_id, signals in found.items()}
    assert kinds == {
        ZS1: ["NEW_COUNTRY", "NEW_DEVICE"],
        KS1: ["NEW_COUNTRY", "NEW_DEVICE", "IMPOSSIBLE_TRAVEL"],
        KS3: ["NEW_COUNTRY", "NEW_DEVICE"],  # the other person's own first
        KS2: ["NEW_DEVICE"],
        ZS2: [],  # the same device and city as KS2, an hour later
    }
    travel = found[KS1][2]
    assert travel["relatedSession"] == {"id": ZS1, "provider": "ZITADEL"}
    assert "Berlin, DE" in travel["detail"]
    assert all(s["relatedSession"] is None for s in found[ZS1])


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["IMPOSSIBLE_TRAVEL"], {KS1}),
        (["NEW_COUNTRY"], {ZS1, KS1, KS3}),
        (["NEW_DEVICE", "IMPOSSIBLE_TRAVEL"], {ZS1, KS1, KS2, KS3}),
    ],
)
def test_the_signals_filter_lists_flagged_sessions_organisation_wide(
    stack: LiveStack, kinds: list[str], expected: set[str]
) -> None:
    query = """query($f: SessionFilterInput) {
      sessions(filter: $f) { totalCount nodes { id } } }"""
    result = post(stack.url, query, {"f": {"signals": kinds}})
    assert "errors" not in result, result["errors"]
    page = result["data"]["sessions"]
    assert {n["id"] for n in page["nodes"]} == expected
    assert page["totalCount"] == len(expected)


def test_a_users_sessions_filtered_by_signal(stack: LiveStack) -> None:
    user = ids.encode(ids.USER, Provider.KRATOS, KRATOS_USER)
    query = """query($f: SessionFilterInput) { sessions(filter: $f) { nodes { id } } }"""
    result = post(stack.url, query, {"f": {"userIds": [user], "signals": ["IMPOSSIBLE_TRAVEL"]}})
    assert "errors" not in result, result["errors"]
    assert [n["id"] for n in result["data"]["sessions"]["nodes"]] == [KS1]


def test_a_persons_devices_group_sessions_across_providers(stack: LiveStack) -> None:
    query = """query($id: String!) { person(user: {provider: KRATOS, nativeId: $id}) { devices {
        id name deviceType browserName osName lastSeenAt
        location { city countryCode } sessions { id }
    } } }"""
    result = post(stack.url, query, {"id": KRATOS_USER})
    assert "errors" not in result, result["errors"]
    devices = result["data"]["person"]["devices"]
    assert [(d["name"], [s["id"] for s in d["sessions"]]) for d in devices] == [
        ("Firefox on Linux", [ZS2, KS2]),
        ("Chrome on Mac OS X", [KS1]),
        ("Chrome on Mac OS X", [ZS1]),
    ]
    first = devices[0]
    assert first["deviceType"] == "DESKTOP"
    assert first["location"] == {"city": "Berlin", "countryCode": "DE"}
    assert first["lastSeenAt"].startswith("2025-03-03T11:00:00")
    assert first["id"] == ids.encode(ids.DEVICE, Provider.KRATOS, K2)


def test_live_events_carry_location_and_signals(stack: LiveStack) -> None:
    """A console can alert on a CREATED event whose session has IMPOSSIBLE_TRAVEL."""
    query = """subscription { sessionEvents(includeInitial: true, filter: {countries: ["AU"]}) {
        kind session { id location { city } signals { kind relatedSession { id } } } } }"""

    async def first_event() -> dict[str, Any]:
        headers = {"Accept": "text/event-stream"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(stack.url, json={"query": query}, headers=headers) as response,
        ):
            assert response.status == 200
            async for line in response.content:
                if line.startswith(b"data:") and b'"sessionEvents"' in line:
                    event: dict[str, Any] = json.loads(line[5:])
                    return event
        raise AssertionError("the stream ended without an event")

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=60))
    assert "errors" not in event, event["errors"]
    found = event["data"]["sessionEvents"]
    assert found["kind"] == "CREATED"
    assert found["session"]["id"] == KS1
    assert found["session"]["location"] == {"city": "Sydney"}
    travel = [s for s in found["session"]["signals"] if s["kind"] == "IMPOSSIBLE_TRAVEL"]
    assert travel == [{"kind": "IMPOSSIBLE_TRAVEL", "relatedSession": {"id": ZS1}}]


def test_live_events_over_websocket_carry_location_and_signals(stack: LiveStack) -> None:
    query = """subscription { sessionEvents(includeInitial: true, filter: {countries: ["AU"]}) {
        session { id location { city } signals { kind } } } }"""

    async def first_event() -> dict[str, Any]:
        transport = WebsocketsTransport(
            url=stack.url.replace("http://", "ws://"),
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        async with Client(transport=transport) as client:
            event: dict[str, Any] = await anext(aiter(client.subscribe(gql(query))))
            return event

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=60))
    session = event["sessionEvents"]["session"]
    assert session["id"] == KS1
    assert session["location"] == {"city": "Sydney"}
    assert {"kind": "IMPOSSIBLE_TRAVEL"} in session["signals"]


def test_revoke_device_ends_its_sessions_at_every_provider(tmp_path: Path) -> None:
    people = tmp_path / "people.json"
    erin = [{"provider": "ZITADEL", "id": ZITADEL_USER}, {"provider": "KRATOS", "id": KRATOS_USER}]
    people.write_text(json.dumps([{"id": "erin", "users": erin}]))
    env = {**write_databases(str(tmp_path), [BERLIN, SYDNEY]), "GATEWAY_PEOPLE_FILE": str(people)}
    with LiveStack(world(), env) as live:
        device = ids.encode(ids.DEVICE, Provider.KRATOS, K2)
        mutation = """mutation($id: ID!) { revokeDevice(id: $id) {
            ended { id status } failed { code } } }"""
        result = post(live.url, mutation, {"id": device})
        assert "errors" not in result, result["errors"]
        ended = result["data"]["revokeDevice"]["ended"]
        assert {e["id"] for e in ended} == {ZS2, KS2}
        assert result["data"]["revokeDevice"]["failed"] == []
        statuses = """{ sessions(first: 50) { nodes { id status } } }"""
        found = post(live.url, statuses)["data"]["sessions"]["nodes"]
        active = {n["id"] for n in found if n["status"] == "ACTIVE"}
        assert active == {ZS1, KS1, KS3}
        missing = post(live.url, mutation, {"id": ids.encode(ids.DEVICE, Provider.KRATOS, "x")})
        (error,) = missing["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_scoped_caller_sees_signals_of_its_own_sessions_only(tmp_path: Path) -> None:
    keys = [
        {
            "name": "other",
            "key": "other-key",
            "users": [{"provider": "KRATOS", "id": OTHER_USER}],
            "scopes": ["sessions:revoke"],
        }
    ]
    env = {
        **write_databases(str(tmp_path), [BERLIN, SYDNEY]),
        "GATEWAY_API_KEYS": json.dumps(keys),
    }
    with LiveStack(world(), env) as live:
        headers = {"X-API-Key": "other-key"}
        result = post(live.url, SIGNALS, headers=headers)
        assert "errors" not in result, result["errors"]
        nodes = result["data"]["sessions"]["nodes"]
        assert [(n["id"], [s["kind"] for s in n["signals"]]) for n in nodes] == [
            (KS3, ["NEW_COUNTRY", "NEW_DEVICE"])
        ]
        query = (
            """{ sessions(filter: {signals: [IMPOSSIBLE_TRAVEL]}) { totalCount nodes { id } } }"""
        )
        flagged = post(live.url, query, headers=headers)["data"]["sessions"]
        assert flagged == {"totalCount": 0, "nodes": []}
        mutation = "mutation($id: ID!) { revokeDevice(id: $id) { ended { id } } }"
        erins = ids.encode(ids.DEVICE, Provider.KRATOS, K2)
        (error,) = post(live.url, mutation, {"id": erins}, headers=headers)["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        still = post(live.url, "{ sessions(first: 50) { nodes { id status } } }")
        assert all(n["status"] == "ACTIVE" for n in still["data"]["sessions"]["nodes"])


def test_live_events_refuse_a_signals_filter(stack: LiveStack) -> None:
    query = "subscription { sessionEvents(filter: {signals: [NEW_DEVICE]}) { kind } }"

    async def answer() -> str:
        headers = {"Accept": "text/event-stream"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(stack.url, json={"query": query}, headers=headers) as response,
        ):
            async for line in response.content:
                if line.startswith(b"data:") and b"errors" in line:
                    return line.decode()
        raise AssertionError("no error came")

    found = asyncio.run(asyncio.wait_for(answer(), timeout=60))
    assert "BAD_USER_INPUT" in found
    assert "session { signals }" in found
