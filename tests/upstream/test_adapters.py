"""Adapters: timestamp encodings, PFIDs, and how transport/status failures become errors."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from app.core.circuit import CircuitBreaker, CircuitState
from app.core.errors import UpstreamBadResponse, UpstreamUnauthorized, UpstreamUnavailable
from app.core.records import AuthorizationKind, AuthorizationRecord, Provider
from app.settings import Settings
from app.upstream.credentials import Forwarded
from app.upstream.endpoint import Endpoint
from app.upstream.health import ProviderHealth
from app.upstream.provider import CHILDREN, PARENT
from app.upstream.providers.hyperid import provider as hyperid
from app.upstream.providers.prefactor.provider import pfid_time
from app.upstream.providers.privx.provider import Listing, PrivxClient, PrivxOAuth
from app.upstream.timestamps import from_unix_seconds, parse_rfc3339, parse_servicestack
from app.upstream.upstreams import Upstreams
from tests.live.test_hub import record as record_of


def test_rfc3339_accepts_zero_to_nine_fraction_digits_and_offsets() -> None:
    assert parse_rfc3339("2024-05-14T07:17:35Z") == datetime(2024, 5, 14, 7, 17, 35, tzinfo=UTC)
    assert parse_rfc3339("2024-05-14T07:17:35.09Z").microsecond == 90_000
    assert parse_rfc3339("2024-05-14T08:01:10.412305123Z").microsecond == 412_305
    assert parse_rfc3339("2024-05-14T10:01:10+02:00") == datetime(2024, 5, 14, 8, 1, 10, tzinfo=UTC)


def test_servicestack_dates_in_iso_and_wcf_form() -> None:
    expected = datetime(2024, 5, 14, 8, 1, 10, tzinfo=UTC)
    assert parse_servicestack("2024-05-14T08:01:10.000Z") == expected
    assert parse_servicestack("/Date(1715673670000)/") == expected
    assert parse_servicestack("/Date(1715673670000-0000)/") == expected
    assert from_unix_seconds(1715673670) == expected


def test_pfid_time_reads_the_leading_48_bits() -> None:
    # The documentation's example ids all carry the timestamp 1234567890000.
    assert pfid_time("013xrzp12g3nqk8nm9s346q3d25vt4f5") == datetime(
        2009, 2, 13, 23, 31, 30, tzinfo=UTC
    )
    assert pfid_time("not-a-pfid") is None


Reply = tuple[int, str, dict[str, str]]


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[BaseTestServer, list[Reply]]]:
    """A loopback server answering the queued replies in turn (the last one repeats)."""
    replies: list[Reply] = []

    async def handler(request: web.Request) -> web.Response:
        status, text, headers = replies.pop(0) if len(replies) > 1 else replies[0]
        return web.Response(status=status, text=text, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server, replies


def privx(server: BaseTestServer, session: aiohttp.ClientSession, retries: int = 2) -> PrivxClient:
    endpoint = Endpoint(
        session,
        provider="PRIVX",
        base_url=str(server.make_url("/")),
        headers={"Authorization": "Bearer very-secret"},
        retries=retries,
    )
    return PrivxClient(endpoint)


@pytest.mark.server
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ((503, "down", {}), UpstreamUnavailable),
        ((429, "slow down", {"Retry-After": "0"}), UpstreamUnavailable),
        ((401, "{}", {}), UpstreamUnauthorized),
        ((400, "{}", {}), UpstreamBadResponse),
        ((200, '{"count": 1, "items": [{', {}), UpstreamBadResponse),
        ((200, '{"count": 1, "items": [{"id": 5}]}', {}), UpstreamBadResponse),
    ],
)
async def test_failures_become_coded_errors_without_secrets(
    upstream: tuple[BaseTestServer, list[Reply]], reply: Reply, error: type[Exception]
) -> None:
    server, replies = upstream
    replies.append(reply)
    async with aiohttp.ClientSession() as session:
        client = privx(server, session)
        with pytest.raises(error) as caught:
            await client.search(user_id=None, offset=0, limit=1, descending=True)
    assert "very-secret" not in str(caught.value)
    assert str(server.make_url("/")) not in str(caught.value)


@pytest.mark.server
async def test_reads_are_retried_on_503_and_429_then_succeed(
    upstream: tuple[BaseTestServer, list[Reply]],
) -> None:
    server, replies = upstream
    replies += [
        (503, "", {}),
        (429, "", {"Retry-After": "0"}),
        (200, '{"count": 0, "items": []}', {}),
    ]
    async with aiohttp.ClientSession() as session:
        items, total = await privx(server, session).search(
            user_id=None, offset=0, limit=1, descending=True
        )
    assert (items, total) == ([], 0)


@pytest.mark.server
async def test_writes_are_never_retried(upstream: tuple[BaseTestServer, list[Reply]]) -> None:
    server, replies = upstream
    replies += [(503, "", {}), (200, "", {})]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnavailable):
            await privx(server, session).terminate("s1")
    assert len(replies) == 1  # the second reply was never asked for


@pytest.mark.server
async def test_repeated_failures_open_the_circuit(
    upstream: tuple[BaseTestServer, list[Reply]],
) -> None:
    server, replies = upstream
    replies.append((503, "", {}))
    async with aiohttp.ClientSession() as session:
        client = privx(server, session, retries=0)
        for _ in range(5):
            with pytest.raises(UpstreamUnavailable):
                await client.search(user_id=None, offset=0, limit=1, descending=True)
        replies[0] = (200, '{"count": 0, "items": []}', {})
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.search(user_id=None, offset=0, limit=1, descending=True)
    assert caught.value.extensions["circuit"] == "OPEN"


async def test_refused_connection_is_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        endpoint = Endpoint(session, provider="PRIVX", base_url="http://127.0.0.1:9", headers={})
        with pytest.raises(UpstreamUnavailable):
            await PrivxClient(endpoint).search(user_id=None, offset=0, limit=1, descending=True)


async def test_missing_forwarded_credential_does_not_close_an_open_circuit() -> None:
    health = ProviderHealth(circuit=CircuitBreaker(failures=1, cooldown=0.0))
    health.circuit.allow()
    health.circuit.record(failed=True)  # open; with no cooldown the next call may probe
    async with aiohttp.ClientSession() as session:
        endpoint = Endpoint(
            session,
            provider="HYPERID",
            base_url="http://127.0.0.1:9",
            headers={},
            health=health,
            credential=Forwarded("HYPERID", "X-HyperID-Cookie", "Cookie"),
        )
        with pytest.raises(UpstreamUnauthorized):
            await endpoint.call("GET", "/api/sessions", lambda payload: payload)
    assert health.circuit.state is not CircuitState.CLOSED
    assert health.circuit.allow()  # the probe was given back, not used up


async def test_oauth_token_is_dropped_only_if_it_is_the_refused_one() -> None:
    async with aiohttp.ClientSession() as session:
        oauth = PrivxOAuth(
            session,
            "http://127.0.0.1:9",
            oauth_client_id="a",
            oauth_client_secret="b",
            api_client_id="c",
            api_client_secret="d",
        )
        oauth._token = "fresh"  # what another request just fetched
        oauth.invalidate({"Authorization": "Bearer stale"})
        assert oauth._token == "fresh"
        oauth.invalidate({"Authorization": "Bearer fresh"})
        assert oauth._token is None


def test_a_privx_listing_parses_only_the_items_asked_for() -> None:
    item = {"id": "s1", "user_id": "u1", "created": "2026-01-01T00:00:00Z"}
    other = {"id": "s2", "user_id": "u2", "created": "not a time"}  # never parsed
    listing = Listing([item, other])
    records = listing.sessions({"s1"})
    assert [r.native_id for r in records] == ["s1"]
    with pytest.raises(UpstreamBadResponse, match="PRIVX answered with an unexpected shape"):
        listing.sessions()


def test_hyperid_site_authorizations_are_parsed_when_read() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session = {"sessionID": 7, "creationTime": "2025-12-01T10:00:00Z"}
    good = hyperid.parse_session(
        session | {"siteAuthorizations": [{"authorizationID": 3, "siteName": "Board"}]}, now
    )
    assert [(a.native_id, a.site_name) for a in good.authorizations] == [("3", "Board")]
    assert good == hyperid.parse_session(
        session | {"siteAuthorizations": [{"authorizationID": 3, "siteName": "Board"}]}, now
    )
    # A bad authorization fails whoever reads the authorizations, not the session listing.
    bad = hyperid.parse_session(session | {"siteAuthorizations": [{"siteName": 5}]}, now)
    assert bad.native_id == "7"
    assert "Deferred(1 raw items)" in repr(bad)  # showing a record parses nothing
    for _ in range(2):  # parsed once; the failure is kept for every later reader
        with pytest.raises(UpstreamBadResponse, match="HYPERID answered with an unexpected"):
            list(bad.authorizations)


def test_a_privx_listing_parses_the_families_asked_for() -> None:
    def item(native_id: str, parent: str = "") -> dict[str, str]:
        return {"id": native_id, "parent_session_id": parent, "user_id": "u",
                "created": "2026-01-01T00:00:00Z"}  # fmt: skip

    listing = Listing([item("a"), item("b", "a"), item("c", "b"), item("d"), item("e", "x")])
    assert {r.native_id for r in listing.trees({"c"})} == {"a", "b", "c"}
    assert {r.native_id for r in listing.trees({"a", "d"})} == {"a", "b", "c", "d"}
    assert {r.native_id for r in listing.trees({"x"})} == {"e"}  # unlisted parent, listed child
    assert listing.trees({"zzz"}) == []


async def test_what_a_provider_knows_without_a_call_follows_what_it_overrides() -> None:
    env = {
        "GATEWAY_PRIVX_URL": "http://127.0.0.1:9/",
        "GATEWAY_HYPERID_URL": "http://127.0.0.1:9/",
        "GATEWAY_ZITADEL_URL": "http://127.0.0.1:9/",
        "GATEWAY_HYPERID_COOKIE": "c",
        "GATEWAY_ZITADEL_TOKEN": "t",
        "GATEWAY_PRIVX_TOKEN": "t",
        "GATEWAY_ALLOW_ANONYMOUS": "true",
    }
    async with aiohttp.ClientSession() as session:
        found = Upstreams.create(session, Settings.from_environ(env)).providers
    authorization = AuthorizationRecord(AuthorizationKind.SITE, "a1", None, None, None)
    record = dataclasses.replace(record_of("s1", Provider.PRIVX), authorizations=(authorization,))
    zitadel, hyperid, privx = (
        found[Provider.ZITADEL],
        found[Provider.HYPERID],
        found[Provider.PRIVX],
    )
    # Neither method overridden: nothing to ask.
    assert zitadel.known_relatives(record, CHILDREN) == []
    assert zitadel.known_authorizations(record) == (authorization,)
    # hyper.id reads authorizations and PrivX relatives: asked, but for what PrivX knows.
    assert hyperid.known_relatives(record, PARENT) == []
    assert hyperid.known_authorizations(record) is None
    assert privx.known_relatives(record, PARENT) == []  # no parent named
    assert privx.known_relatives(record, CHILDREN) is None
