"""Ory Kratos: the adapter against the mock over loopback, and parse_session on spec examples."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.core import ids
from app.core.errors import UpstreamBadResponse, UpstreamUnauthorized
from app.core.records import (
    FactorRecord,
    FactorsRecord,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.mocks import Credentials, Fault, FaultPlan, MockData, MockUpstreams, generate
from app.mocks.timestamps import parse_iso_ns, to_ns
from app.upstream.endpoint import Endpoint
from app.upstream.providers.kratos.provider import KratosClient, next_page_token, parse_session
from app.upstream.providers.kratos.records import (
    KratosDeviceRecord,
    KratosExtras,
    KratosMethodRecord,
)

TOKEN = "ory_pat_kratos-demo-key"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def data() -> MockData:
    return generate()  # now: the mock's clock and the adapter's agree on what has expired


def client(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> KratosClient:
    endpoint = Endpoint(
        http, provider="KRATOS", base_url=url, headers=AUTH if headers is None else headers
    )
    return KratosClient(endpoint)


@pytest.fixture
def kratos(mocks: MockUpstreams, http: aiohttp.ClientSession) -> KratosClient:
    return client(http, mocks.urls["KRATOS"])


def newest_first(sessions: list[dict[str, Any]]) -> list[str]:
    """Session ids in Kratos's list order: created descending, ties by id."""
    ordered = sorted(sessions, key=lambda s: (-parse_iso_ns(s["issued_at"]), s["id"]))
    return [s["id"] for s in ordered]


def live(session: dict[str, Any], now: datetime) -> bool:
    """What `active=true` selects: the stored flag and an expiry not yet passed."""
    return bool(session["active"]) and parse_iso_ns(session["expires_at"]) >= to_ns(now)


def busiest_identity(data: MockData) -> str:
    counts: dict[str, int] = {}
    for session in data.kratos:
        identity = session["identity"]["id"]
        counts[identity] = counts.get(identity, 0) + 1
    return max(counts, key=lambda identity: counts[identity])


# The adapter against the mock


async def test_list_follows_the_link_header_through_every_session_once(
    kratos: KratosClient, mocks: MockUpstreams, data: MockData
) -> None:
    seen: list[str] = []
    token: str | None = None
    while True:
        records, token = await kratos.list(page_size=7, page_token=token)
        seen += [r.native_id for r in records]
        if token is None:
            break

    assert seen == newest_first(data.kratos)
    calls = mocks.calls("KRATOS")
    assert len(calls) == 9  # 60 sessions, 7 a page
    assert all("expand=identity&expand=devices" in c.query_string for c in calls)
    assert "page_token" not in calls[0].query_string
    assert all("page_token=" in c.query_string for c in calls[1:])


async def test_list_asks_for_at_most_1000_a_page(
    kratos: KratosClient, mocks: MockUpstreams
) -> None:
    records, token = await kratos.list(page_size=5000)

    assert (len(records), token) == (60, None)
    assert mocks.calls("KRATOS")[0].query_string.startswith("page_size=1000&")


async def test_list_active_filter_splits_the_sessions(kratos: KratosClient, data: MockData) -> None:
    active, _ = await kratos.list(page_size=1000, active=True)
    inactive, _ = await kratos.list(page_size=1000, active=False)

    expected = {s["id"] for s in data.kratos if live(s, data.now)}
    assert {r.native_id for r in active} == expected
    assert {r.native_id for r in inactive} == {s["id"] for s in data.kratos} - expected
    # Kratos reports the sessions of an inactive identity as inactive, filter or not.
    of_active_identities = {r.status for r in active if _extras(r).identity_state == "active"}
    assert of_active_identities == {SessionStatus.ACTIVE}
    assert SessionStatus.ACTIVE not in {r.status for r in inactive}


async def test_list_reads_user_device_and_factors_from_the_expanded_session(
    kratos: KratosClient, data: MockData
) -> None:
    records, _ = await kratos.list(page_size=1000)
    record = next(r for r in records if r.native_id == data.kratos[1]["id"])
    session = data.kratos[1]  # plan ("password", "totp")
    person = next(p for p in data.people if p.email == session["identity"]["traits"]["email"])

    assert record.user == UserRecord(
        Provider.KRATOS,
        session["identity"]["id"],
        login_name=person.email,
        display_name=person.display_name,
    )
    assert record.remote_address == session["devices"][0]["ip_address"]
    assert record.user_agent == UserAgentRecord(
        raw=session["devices"][0]["user_agent"], ip=session["devices"][0]["ip_address"]
    )
    assert record.factors is not None
    assert record.factors.password is not None
    assert record.factors.totp is not None


async def test_get_answers_a_session_or_none(
    kratos: KratosClient, mocks: MockUpstreams, data: MockData
) -> None:
    wanted = data.kratos[5]

    found = await kratos.get(wanted["id"])
    unknown = await kratos.get(UNKNOWN)
    malformed = await kratos.get("not-a-uuid")

    assert found is not None
    assert found.native_id == wanted["id"]
    assert found.user is not None
    assert found.user.native_id == wanted["identity"]["id"]
    assert (unknown, malformed) == (None, None)
    assert [c.path for c in mocks.calls("KRATOS")] == [
        f"/admin/sessions/{wanted['id']}",
        f"/admin/sessions/{UNKNOWN}",
    ]  # no call for an id Kratos would refuse with 400
    assert mocks.calls("KRATOS")[0].query_string == "expand=identity&expand=devices"


async def test_get_many_fetches_each_known_id(kratos: KratosClient, data: MockData) -> None:
    wanted = [s["id"] for s in data.kratos[:10]]

    found = await kratos.get_many([*wanted, UNKNOWN, "x", wanted[0]])

    assert sorted(found) == sorted(wanted)
    assert all(found[i].native_id == i for i in wanted)


async def test_disable_deactivates_and_unknown_is_not_found(
    kratos: KratosClient, mocks: MockUpstreams, data: MockData
) -> None:
    target = next(
        s for s in data.kratos if live(s, data.now) and s["identity"]["state"] == "active"
    )
    before = await kratos.get(target["id"])

    outcome = await kratos.disable(target["id"])
    after = await kratos.get(target["id"])

    assert before is not None
    assert before.status is SessionStatus.ACTIVE
    assert outcome is RevokeOutcome.REVOKED
    assert after is not None
    assert after.status is SessionStatus.REVOKED
    assert after.extras == dataclasses.replace(_extras(before), active=False)
    assert await kratos.disable(target["id"]) is RevokeOutcome.REVOKED  # already inactive
    assert await kratos.disable(UNKNOWN) is RevokeOutcome.NOT_FOUND
    assert await kratos.disable("nope") is RevokeOutcome.NOT_FOUND
    methods = [c.method for c in mocks.calls("KRATOS")]
    assert methods == ["GET", "DELETE", "GET", "DELETE", "DELETE"]


def _extras(record: SessionRecord) -> KratosExtras:
    assert isinstance(record.extras, KratosExtras)
    return record.extras


async def test_identity_sessions_reads_the_newest_and_the_total(
    kratos: KratosClient, mocks: MockUpstreams, data: MockData
) -> None:
    identity = busiest_identity(data)
    theirs = [s for s in data.kratos if s["identity"]["id"] == identity]

    records, total = await kratos.identity_sessions(identity)
    two, same_total = await kratos.identity_sessions(identity, page_size=2)
    active, active_total = await kratos.identity_sessions(identity, active=True)

    assert [r.native_id for r in records] == newest_first(theirs)
    assert total == same_total == len(theirs) > 2
    assert [r.native_id for r in two] == newest_first(theirs)[:2]
    assert {r.native_id for r in active} == {s["id"] for s in theirs if live(s, data.now)}
    assert active_total == len(active)
    assert mocks.calls("KRATOS")[1].query_string == "page_size=2"
    assert await kratos.identity_sessions("nope") == ([], 0)


async def test_delete_identity_sessions_removes_them_all(
    kratos: KratosClient, data: MockData
) -> None:
    identity = busiest_identity(data)

    outcome = await kratos.delete_identity_sessions(identity)
    left = await kratos.identity_sessions(identity)
    everything, _ = await kratos.list(page_size=1000)

    assert outcome is RevokeOutcome.REVOKED
    assert left == ([], 0)
    assert identity not in {r.user.native_id for r in everything if r.user}
    # Kratos answers 404 when there was nothing to delete, known identity or not.
    assert await kratos.delete_identity_sessions(identity) is RevokeOutcome.NOT_FOUND
    assert await kratos.delete_identity_sessions(UNKNOWN) is RevokeOutcome.NOT_FOUND
    assert await kratos.delete_identity_sessions("nope") is RevokeOutcome.NOT_FOUND


async def test_identity_listing_next_link_repeats_the_first_page(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    """Why identity_sessions reads one page: Kratos's own `next` link (issue #3883)."""
    base = mocks.urls["KRATOS"]
    path = f"/admin/identities/{busiest_identity(data)}/sessions"

    async with http.get(f"{base}{path}?page_size=2", headers=AUTH) as response:
        first = [s["id"] for s in await response.json()]
        link = response.headers["Link"]
    target = link.split(">")[0].lstrip("<")
    async with http.get(base + target, headers=AUTH) as response:
        second = [s["id"] for s in await response.json()]

    assert 'rel="next"' in link
    assert second == first


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_a_missing_or_wrong_api_key_is_unauthorized(
    mocks: MockUpstreams, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    refused = client(http, mocks.urls["KRATOS"], headers)

    with pytest.raises(UpstreamUnauthorized):
        await refused.list(page_size=10)


@pytest.mark.server
async def test_self_hosted_admin_api_needs_no_key(
    http: aiohttp.ClientSession, data: MockData
) -> None:
    async with MockUpstreams(data, Credentials(kratos_token="")) as mocks:
        records, _ = await client(http, mocks.urls["KRATOS"], {}).list(page_size=1000)
        env = mocks.gateway_env()

    assert len(records) == len(data.kratos)
    assert env["GATEWAY_KRATOS_TOKEN"] == ""


@pytest.mark.parametrize("fault", [Fault.WRONG_SHAPE, Fault.TRUNCATED])
async def test_a_broken_listing_is_a_bad_response(
    kratos: KratosClient, mocks: MockUpstreams, fault: Fault
) -> None:
    mocks.set_fault("KRATOS", FaultPlan(fault))

    with pytest.raises(UpstreamBadResponse):
        await kratos.list(page_size=10)


Reply = tuple[str, dict[str, str]]


@pytest.fixture
async def stub() -> AsyncIterator[tuple[str, list[Reply]]]:
    """A loopback server answering every request with 200 and the one queued reply."""
    replies: list[Reply] = []

    async def handler(request: web.Request) -> web.Response:
        text, headers = replies[0]
        return web.Response(text=text, headers=headers, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/")), replies


@pytest.mark.server
@pytest.mark.parametrize(
    "reply",
    [
        ('{"id": "8f3a1c52-2b7e-4d3a-9c61-0e5b7f2d4a10"}', {}),  # an object, not an array
        ('[{"id": "8f3a1c52-2b7e-4d3a-9c61-0e5b7f2d4a10"}]', {}),  # no issued_at
        ('[{"id": "8f3a1c52-2b7e-4d3a-9c61-0e5b7f2d4a10", "issued_at": "yesterday"}]', {}),
        ('[{"id": "s", "issued_at": "2024-05-14T08:01:10Z", "active": "yes"}]', {}),
        ('[{"id": "s", "issued_at": "2024-05-14T08:01:10Z", "devices": [{}]}]', {}),
        ('[{"id": "s", "issued_at": "2024-05-14T08:01:10Z", "identity": {"traits": {}}}]', {}),
    ],
)
async def test_unexpected_shapes_are_bad_responses(
    stub: tuple[str, list[Reply]], http: aiohttp.ClientSession, reply: Reply
) -> None:
    url, replies = stub
    replies.append(reply)
    kratos = client(http, url)

    with pytest.raises(UpstreamBadResponse):
        await kratos.list(page_size=10)
    with pytest.raises(UpstreamBadResponse):
        await kratos.identity_sessions(UNKNOWN)


@pytest.mark.server
async def test_a_total_that_is_no_number_is_a_bad_response(
    stub: tuple[str, list[Reply]], http: aiohttp.ClientSession
) -> None:
    url, replies = stub
    replies.append(("[]", {"X-Total-Count": "many"}))

    with pytest.raises(UpstreamBadResponse):
        await client(http, url).identity_sessions(UNKNOWN)


# The mock's own answers


async def fetch(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    async with http.request(method, url, headers=AUTH if headers is None else headers) as r:
        text = await r.text()
        return r.status, (await r.json() if text else None), r.headers


@pytest.mark.parametrize(
    ("path", "status", "message", "reason"),
    [
        ("/admin/sessions?active=yes", 400, "could not parse parameter active", None),
        ("/admin/sessions?page_size=ten", 400, "could not parse parameter page_size", None),
        ("/admin/sessions?page_token=***", 400, "could not parse parameter page_size", None),
        (
            "/admin/sessions?page_token=aWQ9eA",  # base64 of "id=x"
            400,
            "The request was malformed or contained invalid parameters",
            "The page token is invalid, do not craft your own page tokens",
        ),
        (
            "/admin/sessions?expand=everything",
            400,
            "The request was malformed or contained invalid parameters",
            "Could not parse expand option: everything",
        ),
        ("/admin/sessions/x", 400, 'uuid: incorrect UUID format in string "x"', None),
        (f"/admin/sessions/{UNKNOWN}", 404, "Unable to locate the resource", None),
        ("/admin/nothing", 404, "The requested resource could not be found", None),
    ],
)
async def test_mock_errors_have_ory_shape(
    mocks: MockUpstreams,
    http: aiohttp.ClientSession,
    path: str,
    status: int,
    message: str,
    reason: str | None,
) -> None:
    got, body, _ = await fetch(http, "GET", mocks.urls["KRATOS"] + path)

    error = {"code": status, "status": "Bad Request" if status == 400 else "Not Found"}
    if reason:
        error["reason"] = reason
    assert (got, body) == (status, {"error": {**error, "message": message}})


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        (Fault.UNAVAILABLE, 503, "Service Unavailable"),
        (Fault.RATE_LIMITED, 429, "Too Many Requests"),
        (Fault.UNAUTHORIZED, 401, "Unauthorized"),
    ],
)
async def test_mock_faults_answer_in_ory_shape(
    mocks: MockUpstreams, http: aiohttp.ClientSession, fault: Fault, status: int, text: str
) -> None:
    mocks.set_fault("KRATOS", FaultPlan(fault))

    got, body, _ = await fetch(http, "GET", mocks.urls["KRATOS"] + "/admin/sessions")

    assert got == status
    assert body["error"]["code"] == status
    assert body["error"]["status"] == text
    assert set(body["error"]) == {"code", "status", "message"}


async def test_mock_unexpanded_sessions_have_null_relations(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    base = mocks.urls["KRATOS"]
    session_id = data.kratos[0]["id"]

    _, listed, headers = await fetch(http, "GET", base + "/admin/sessions?page_size=1")
    _, one, _ = await fetch(http, "GET", f"{base}/admin/sessions/{session_id}")
    status, _, _ = await fetch(http, "PUT", f"{base}/admin/sessions/{session_id}")

    assert (listed[0]["identity"], listed[0]["devices"]) == (None, None)
    assert (one["identity"], one["devices"]) == (None, [])
    assert list(one) == [
        "id", "active", "expires_at", "authenticated_at", "authenticator_assurance_level",
        "authentication_methods", "issued_at", "identity", "devices",
    ]  # fmt: skip
    assert headers["Link"].count("rel=") == 2  # first and next
    assert status == 405


async def test_mock_identity_listing_headers_follow_ory_x(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    base = mocks.urls["KRATOS"]
    identity = busiest_identity(data)
    count = sum(s["identity"]["id"] == identity for s in data.kratos)
    path = f"{base}/admin/identities/{identity}/sessions"

    _, everything, whole = await fetch(http, "GET", path)
    _, legacy, _ = await fetch(http, "GET", f"{path}?page=2&per_page=1")
    _, none, empty = await fetch(http, "GET", f"{base}/admin/identities/{UNKNOWN}/sessions")

    assert len(everything) == int(whole["X-Total-Count"]) == count
    assert whole["Link"].count("rel=") == 1  # all on one page: only "first"
    assert [s["id"] for s in legacy] == [everything[1]["id"]]  # pop's pages count from 1
    assert none == []
    assert empty["X-Total-Count"] == "0"
    assert [part.split("rel=")[1] for part in empty["Link"].split(",")] == [
        '"first"',
        '"next"',
        '"prev"',
    ]


# The Link header


def test_next_page_token_reads_the_next_link() -> None:
    ory_docs = (
        '</admin/clients?page_size=5&page_token=euKoY1BqY3J8GVax>; rel="first",'
        '</admin/clients?page_size=5&page_token=h9LfEKUiFoLH2R0A>; rel="next"'
    )
    last_page = '</admin/clients?page_size=5&page_token=euKoY1BqY3J8GVax>; rel="first"'
    absolute = (
        "<https://x.projects.oryapis.com/admin/sessions?page_size=250&page_token=aWQ9%2Bx%2F>; "
        "rel=next"
    )
    offset_style = (
        "</admin/identities/i/sessions?page=1&page_size=2&page_token=eyJvZmZzZXQiOiIyIn0&per_page=2>"
        '; rel="next",</admin/identities/i/sessions?page=2&page_size=2&page_token=x&per_page=2>'
        '; rel="last"'
    )

    assert next_page_token(ory_docs) == "h9LfEKUiFoLH2R0A"
    assert next_page_token(last_page) is None
    assert next_page_token(absolute) == "aWQ9+x/"
    assert next_page_token(offset_style) == "eyJvZmZzZXQiOiIyIn0"
    assert next_page_token(None) is None
    assert next_page_token("") is None


# parse_session on examples written from the spec

NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

ACTIVE_MFA = {
    "id": "8f3a1c52-2b7e-4d3a-9c61-0e5b7f2d4a10",
    "active": True,
    "expires_at": "2024-05-15T08:01:10.412305Z",
    "authenticated_at": "2024-05-14T08:01:31.9Z",
    "authenticator_assurance_level": "aal2",
    "authentication_methods": [
        {"method": "password", "aal": "aal1", "completed_at": "2024-05-14T08:01:10.412305Z"},
        {"method": "totp", "aal": "aal2", "completed_at": "2024-05-14T08:01:31.9Z"},
    ],
    "issued_at": "2024-05-14T08:01:10.412305Z",
    "identity": {
        "id": "5bf77342-221c-4eee-be56-0242ac120002",
        "schema_id": "default",
        "schema_url": "https://auth.acme.example.com/schemas/ZGVmYXVsdA",
        "state": "active",
        "traits": {"email": "alice@acme.example.com", "name": {"first": "Alice", "last": "Doe"}},
        "metadata_public": None,
        "created_at": "2024-01-02T10:00:00Z",
        "updated_at": "2024-01-02T10:00:00Z",
        "organization_id": None,
    },
    "devices": [
        {
            "id": "0c8e7f1a-6d2b-4b7e-9a3f-5e1d2c3b4a59",
            "ip_address": "203.0.113.24",
            "user_agent": CHROME,
            "location": "Munich, DE",
        }
    ],
}


def test_parse_an_active_mfa_session_with_identity_and_device() -> None:
    issued = datetime(2024, 5, 14, 8, 1, 10, 412305, tzinfo=UTC)
    totp_done = datetime(2024, 5, 14, 8, 1, 31, 900000, tzinfo=UTC)

    record = parse_session(ACTIVE_MFA, NOW)

    assert record == SessionRecord(
        provider=Provider.KRATOS,
        native_id="8f3a1c52-2b7e-4d3a-9c61-0e5b7f2d4a10",
        global_id=ids.encode(ids.SESSION, Provider.KRATOS, "8f3a1c52-2b7e-4d3a-9c61-0e5b7f2d4a10"),
        status=SessionStatus.ACTIVE,
        created_at=issued,
        expires_at=datetime(2024, 5, 15, 8, 1, 10, 412305, tzinfo=UTC),
        remote_address="203.0.113.24",
        user=UserRecord(
            Provider.KRATOS,
            "5bf77342-221c-4eee-be56-0242ac120002",
            login_name="alice@acme.example.com",
            display_name="Alice Doe",
        ),
        user_agent=UserAgentRecord(raw=CHROME, ip="203.0.113.24"),
        factors=FactorsRecord(
            password=FactorRecord(verified_at=issued), totp=FactorRecord(verified_at=totp_done)
        ),
        extras=KratosExtras(
            active=True,
            aal="aal2",
            authenticated_at=totp_done,
            methods=(
                KratosMethodRecord("password", "aal1", issued),
                KratosMethodRecord("totp", "aal2", totp_done),
            ),
            devices=(
                KratosDeviceRecord(
                    "0c8e7f1a-6d2b-4b7e-9a3f-5e1d2c3b4a59", "203.0.113.24", CHROME, "Munich, DE"
                ),
            ),
            identity_state="active",
            schema_id="default",
        ),
    )


def test_parse_an_expired_session_without_expansions() -> None:
    session = {
        "id": "1d6f3e0b-95a4-4c1e-8f57-3a2b9c0d7e61",
        "active": False,
        "expires_at": "2024-05-13T07:00:00Z",
        "authenticated_at": "2024-05-12T07:00:00Z",
        "authenticator_assurance_level": "aal1",
        "authentication_methods": [
            {
                "method": "oidc",
                "aal": "aal1",
                "completed_at": "2024-05-12T07:00:00Z",
                "provider": "google",
            }
        ],
        "issued_at": "2024-05-12T07:00:00Z",
        "identity": None,
        "devices": None,
    }
    at = datetime(2024, 5, 12, 7, 0, tzinfo=UTC)

    record = parse_session(session, NOW)

    assert record == SessionRecord(
        provider=Provider.KRATOS,
        native_id="1d6f3e0b-95a4-4c1e-8f57-3a2b9c0d7e61",
        global_id=ids.encode(ids.SESSION, Provider.KRATOS, "1d6f3e0b-95a4-4c1e-8f57-3a2b9c0d7e61"),
        status=SessionStatus.EXPIRED,
        created_at=at,
        expires_at=datetime(2024, 5, 13, 7, 0, tzinfo=UTC),
        factors=FactorsRecord(intent=FactorRecord(verified_at=at)),
        extras=KratosExtras(
            active=False,
            aal="aal1",
            authenticated_at=at,
            methods=(KratosMethodRecord("oidc", "aal1", at, provider="google"),),
            devices=(),
            identity_state=None,
            schema_id=None,
        ),
    )


def test_parse_a_disabled_session_and_a_custom_login_trait() -> None:
    session = {
        "id": "c0ffee00-1234-4abc-8def-0123456789ab",
        "active": False,
        "expires_at": "2024-05-20T00:00:00Z",
        "authenticated_at": "2024-05-14T08:30:00Z",
        "authenticator_assurance_level": "aal2",
        "authentication_methods": [
            {"method": "passkey", "aal": "aal1", "completed_at": "2024-05-14T08:00:00Z"},
            {"method": "code", "aal": "aal1", "completed_at": "2024-05-14T08:05:00Z"},
            {"method": "lookup_secret", "aal": "aal2", "completed_at": "2024-05-14T08:10:00Z"},
            {"method": "password", "aal": "aal1", "completed_at": "2024-05-14T08:20:00Z"},
            {"method": "password", "aal": "aal1", "completed_at": "2024-05-14T08:30:00Z"},
        ],
        "issued_at": "2024-05-14T08:00:00Z",
        "identity": {
            "id": "7d9e4c1b-0a2f-4e3d-b5c6-1f2e3d4c5b6a",
            "schema_id": "customer",
            "state": "inactive",
            "traits": {"username": "bob", "email": "bob@globex.example.net", "name": "Bob Smith"},
            "organization_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        },
        "devices": [{"id": "d0d0d0d0-0000-4000-8000-000000000001", "location": ""}],
    }

    record = parse_session(session, NOW, login_trait="username")

    assert record.status is SessionStatus.REVOKED
    assert record.created_at == datetime(2024, 5, 14, 8, 0, tzinfo=UTC)
    assert record.user == UserRecord(
        Provider.KRATOS,
        "7d9e4c1b-0a2f-4e3d-b5c6-1f2e3d4c5b6a",
        login_name="bob",
        display_name="Bob Smith",
        organization_id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    )
    assert record.factors == FactorsRecord(
        password=FactorRecord(verified_at=datetime(2024, 5, 14, 8, 30, tzinfo=UTC)),
        web_auth_n=FactorRecord(verified_at=datetime(2024, 5, 14, 8, 0, tzinfo=UTC)),
        recovery_code=FactorRecord(verified_at=datetime(2024, 5, 14, 8, 10, tzinfo=UTC)),
    )  # `code` (email or SMS, Kratos does not say which) has no common factor
    assert record.user_agent == UserAgentRecord()
    assert record.remote_address is None
    assert record.extras == KratosExtras(
        active=False,
        aal="aal2",
        authenticated_at=datetime(2024, 5, 14, 8, 30, tzinfo=UTC),
        methods=(
            KratosMethodRecord("passkey", "aal1", datetime(2024, 5, 14, 8, 0, tzinfo=UTC)),
            KratosMethodRecord("code", "aal1", datetime(2024, 5, 14, 8, 5, tzinfo=UTC)),
            KratosMethodRecord("lookup_secret", "aal2", datetime(2024, 5, 14, 8, 10, tzinfo=UTC)),
            KratosMethodRecord("password", "aal1", datetime(2024, 5, 14, 8, 20, tzinfo=UTC)),
            KratosMethodRecord("password", "aal1", datetime(2024, 5, 14, 8, 30, tzinfo=UTC)),
        ),
        devices=(KratosDeviceRecord("d0d0d0d0-0000-4000-8000-000000000001", None, None, None),),
        identity_state="inactive",
        schema_id="customer",
    )


def test_parse_the_least_a_session_can_say() -> None:
    record = parse_session({"id": "s-1", "issued_at": "2024-05-14T08:01:10Z"}, NOW)

    assert record == SessionRecord(
        provider=Provider.KRATOS,
        native_id="s-1",
        global_id=ids.encode(ids.SESSION, Provider.KRATOS, "s-1"),
        status=SessionStatus.ACTIVE,
        created_at=datetime(2024, 5, 14, 8, 1, 10, tzinfo=UTC),
        extras=KratosExtras(
            active=None,
            aal=None,
            authenticated_at=None,
            methods=(),
            devices=(),
            identity_state=None,
            schema_id=None,
        ),
    )


def test_traits_of_other_types_give_no_names() -> None:
    session = {
        "id": "s-1",
        "issued_at": "2024-05-14T08:01:10Z",
        "identity": {"id": "i-1", "traits": {"email": ["a@example.com"], "name": 42}},
    }

    assert parse_session(session, NOW).user == UserRecord(Provider.KRATOS, "i-1")


@pytest.mark.parametrize(
    "session",
    [
        {"issued_at": "2024-05-14T08:01:10Z"},
        {"id": "s-1"},
        {"id": "s-1", "issued_at": None},
        {"id": "s-1", "issued_at": "2024-05-14T08:01:10Z", "authentication_methods": {}},
        {"id": "s-1", "issued_at": "2024-05-14T08:01:10Z", "authentication_methods": [{}]},
        {"id": "s-1", "issued_at": "2024-05-14T08:01:10Z", "identity": {"id": 7}},
    ],
)
def test_parse_rejects_sessions_missing_what_it_needs(session: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError)):
        parse_session(session, NOW)
