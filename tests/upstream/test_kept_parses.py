"""Listings parsed once per answer (app/upstream/kept.py): the same bytes are not parsed again,
and a kept parse is not used once a status in it would have changed with the clock."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.core.errors import UpstreamBadResponse
from app.core.records import Deferred, Provider, SessionRecord, SessionStatus
from app.mocks import generate
from app.upstream.endpoint import Endpoint
from app.upstream.kept import KeptParses, Parsed
from app.upstream.providers.hyperid import provider as hyperid
from app.upstream.providers.kratos import provider as kratos
from app.upstream.providers.prefactor import provider as prefactor
from app.upstream.providers.privx import provider as privx
from app.upstream.providers.zitadel import provider as zitadel

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _record(native_id: str, expires_at: datetime | None) -> SessionRecord:
    return SessionRecord(
        provider=Provider.HYPERID,
        native_id=native_id,
        global_id=f"g{native_id}",
        status=SessionStatus.ACTIVE,
        created_at=T0 - timedelta(days=1),
        extras=None,  # type: ignore[arg-type]
        expires_at=expires_at,
    )


def _counting(records: list[SessionRecord]) -> tuple[Callable[[Any], Parsed], list[int]]:
    calls = [0]

    def parse(payload: Any) -> Parsed:
        calls[0] += 1
        return list(records), len(records)

    return parse, calls


def test_the_same_bytes_parse_once_into_a_list_for_each_caller() -> None:
    clock = Clock(T0)
    kept = KeptParses(clock=clock)
    records = [_record("1", T0 + timedelta(hours=1)), _record("2", None)]
    parse, _ = _counting(records)

    assert kept.get(parse, b"answer") is None
    kept.keep(parse, b"answer", parse(None), T0)
    first = kept.get(parse, b"answer")
    assert first is not None
    first[0].clear()  # a caller changing its list changes nobody else's
    second = kept.get(parse, b"answer")

    assert second == (records, 2)
    assert kept.get(parse, b"other answer") is None
    assert kept.get(lambda payload: parse(payload), b"answer") is None  # another parse
    assert (kept.hits, kept.parses) == (2, 1)


def test_a_kept_parse_ends_at_the_first_expiry_ahead_of_it() -> None:
    clock = Clock(T0)
    kept = KeptParses(clock=clock)
    soon, later = T0 + timedelta(minutes=5), T0 + timedelta(hours=2)
    records = [_record("1", later), _record("2", T0 - timedelta(days=1)), _record("3", soon)]
    parse, _ = _counting(records)
    kept.keep(parse, b"answer", parse(None), T0)

    clock.now = soon - timedelta(microseconds=1)
    assert kept.get(parse, b"answer") is not None
    clock.now = soon  # session 3 is expired from this instant: parse again
    assert kept.get(parse, b"answer") is None
    assert kept.get(parse, b"answer") is None  # and it was let go


def test_expiries_already_past_do_not_end_a_kept_parse() -> None:
    clock = Clock(T0)
    kept = KeptParses(clock=clock)
    records = [_record("1", T0 - timedelta(days=1)), _record("2", None), _record("3", T0)]
    parse, _ = _counting(records)
    kept.keep(parse, b"answer", parse(None), T0)

    clock.now = T0 + timedelta(days=3650)
    assert kept.get(parse, b"answer") == (records, 3)


def test_kept_answers_are_bounded_in_bytes_least_recently_used_out() -> None:
    kept = KeptParses(max_bytes=10, clock=Clock(T0))
    parse, _ = _counting([])
    for body in (b"aaaa", b"bbbb"):
        kept.keep(parse, body, parse(None), T0)
    assert kept.get(parse, b"aaaa") is not None  # now the most recently used
    kept.keep(parse, b"cccc", parse(None), T0)  # 12 bytes: the least recently used goes

    assert kept.get(parse, b"bbbb") is None
    assert kept.get(parse, b"aaaa") is not None
    assert kept.get(parse, b"cccc") is not None
    kept.keep(parse, b"x" * 11, parse(None), T0)  # larger than the bound: never kept
    assert kept.get(parse, b"x" * 11) is None


# Each kept listing parse, with the raw sessions of the mock world it parses.
PARSERS: dict[str, tuple[Callable[[Any, datetime], SessionRecord], str]] = {
    "privx": (privx.parse_session, "privx"),
    "prefactor": (prefactor.parse_session, "prefactor"),
    "zitadel": (zitadel.parse_session, "zitadel"),
    "hyperid": (hyperid.parse_session, "hyperid_sessions"),
    "kratos": (kratos.parse_session, "kratos"),
}


@pytest.mark.parametrize("provider", PARSERS)
def test_a_parse_reads_the_clock_only_to_compare_it_with_the_expiry(provider: str) -> None:
    """What a kept parse stands on: between two instants, the records of one raw session differ
    only in status, and only where the expiry falls between them."""
    parse_session, field = PARSERS[provider]
    data = generate(seed=11)
    raws = getattr(data, field)
    early, late = data.now - timedelta(days=400), data.now + timedelta(days=400)
    changed = 0
    for raw in raws:
        before, after = parse_session(raw, early), parse_session(raw, late)
        if before.status != after.status:
            changed += 1
            assert before.expires_at is not None
            assert early < before.expires_at <= late
        assert dataclasses.replace(before, status=after.status) == after
    assert len(raws) >= 20
    if provider != "prefactor":  # Prefactor reports its own statuses
        assert changed > 0


@pytest.fixture
async def listing() -> AsyncIterator[tuple[Endpoint, dict[str, Any]]]:
    """A hyper.id-shaped listing on loopback whose body a test can change."""
    data = generate(seed=3)
    state: dict[str, Any] = {"sessions": data.hyperid_sessions[:5], "calls": 0}

    async def sessions(request: web.Request) -> web.Response:
        state["calls"] += 1
        if state.get("garbage"):
            return web.json_response({"sessions": [{"sessionID": "not a number"}]})
        body = {"sessions": state["sessions"], "appAuthorizations": []}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/sessions", sessions)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        endpoint = Endpoint(
            session, provider="HYPERID", base_url=str(server.make_url("/")), headers={}
        )
        yield endpoint, state


@pytest.mark.server
async def test_an_endpoint_parses_an_unchanged_listing_once(
    listing: tuple[Endpoint, dict[str, Any]],
) -> None:
    endpoint, state = listing
    client = hyperid.HyperIdClient(endpoint)

    first, _ = await client.list()
    second, _ = await client.list()
    state["sessions"] = state["sessions"][:3]  # the upstream's answer changes
    third, _ = await client.list()

    assert state["calls"] == 3  # every request still asks the upstream
    assert second == first
    assert [s.native_id for s in third] == [s.native_id for s in first[:3]]
    assert (endpoint.kept.hits, endpoint.kept.parses) == (1, 2)


@pytest.mark.server
async def test_a_bad_answer_is_never_kept(listing: tuple[Endpoint, dict[str, Any]]) -> None:
    endpoint, state = listing
    client = hyperid.HyperIdClient(endpoint)
    state["garbage"] = True

    for _ in range(2):
        with pytest.raises(UpstreamBadResponse):
            await client.list()

    assert (endpoint.kept.hits, endpoint.kept.parses) == (0, 0)
    assert endpoint.health.last_error_code == "UPSTREAM_BAD_RESPONSE"


@pytest.mark.server
async def test_a_session_that_expires_is_parsed_again_as_expired(
    listing: tuple[Endpoint, dict[str, Any]],
) -> None:
    endpoint, state = listing
    now = datetime.now(UTC)
    clock = Clock(now)
    endpoint.kept = KeptParses(clock=clock)
    expiry = now + timedelta(minutes=10)
    session = dict(state["sessions"][0])
    session["expirationTime"] = expiry.isoformat().replace("+00:00", "Z")
    state["sessions"] = [session]
    client = hyperid.HyperIdClient(endpoint)

    before, _ = await client.list()
    clock.now = expiry  # the kept parse would still say ACTIVE
    after, _ = await client.list()

    assert before[0].status is SessionStatus.ACTIVE
    # Parsed again, against the real clock (still before the expiry): what matters here is
    # that the kept parse was not used past the expiry it saw ahead.
    assert (endpoint.kept.hits, endpoint.kept.parses) == (0, 2)
    assert after == before


def test_a_deferred_failure_keeps_no_reader_and_does_not_grow() -> None:
    """Kept records live across requests: the error their deferred part raises must hold
    neither the first reader's frames (its context, its request) nor collect later readers'."""

    def bad(raw: list[Any]) -> tuple[int, ...]:
        raise UpstreamBadResponse("HYPERID sent a bad authorization.", provider="HYPERID")

    class Reader:  # stands for what a reader's frames hold: its context, its request
        pass

    def read(deferred: Deferred[int], reader: Reader) -> UpstreamBadResponse:
        try:
            len(deferred)
        except UpstreamBadResponse as exc:
            return exc
        raise AssertionError("no error")

    deferred: Deferred[int] = Deferred([{"x": 1}], bad)
    first = Reader()
    gone = weakref.ref(first)
    errors = [read(deferred, first)]
    del first, errors
    gc.collect()
    assert gone() is None  # the kept error does not hold the first reader

    depths = []
    for _ in range(50):
        error = read(deferred, Reader())
        depth, tb = 0, error.__traceback__
        while tb is not None:
            depth, tb = depth + 1, tb.tb_next
        depths.append(depth)
        assert (error.extensions["code"], error.provider) == ("UPSTREAM_BAD_RESPONSE", "HYPERID")
    assert max(depths) == depths[0] <= 5


@pytest.fixture
async def kratos_listing() -> AsyncIterator[tuple[kratos.KratosClient, dict[str, Any]]]:
    """A Kratos-shaped listing on loopback whose `Link` header a test can change."""
    data = generate(seed=3)
    state: dict[str, Any] = {"sessions": data.kratos[:4], "link": None, "calls": 0}

    async def sessions(request: web.Request) -> web.Response:
        state["calls"] += 1
        headers = {"Link": state["link"]} if state["link"] else {}
        body = orjson.dumps(state["sessions"])
        return web.Response(body=body, content_type="application/json", headers=headers)

    app = web.Application()
    app.router.add_get("/admin/sessions", sessions)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        endpoint = Endpoint(
            session, provider="KRATOS", base_url=str(server.make_url("/")), headers={}
        )
        yield kratos.KratosClient(endpoint), state


@pytest.mark.server
async def test_a_kept_parse_is_of_the_body_and_the_headers_it_reads(
    kratos_listing: tuple[kratos.KratosClient, dict[str, Any]],
) -> None:
    client, state = kratos_listing
    kept = client._endpoint.kept

    first, last_page = await client.list(page_size=4)
    again, _ = await client.list(page_size=4)
    state["link"] = '<http://kratos/admin/sessions?page_size=4&page_token=abc>; rel="next"'
    same_body, token = await client.list(page_size=4)

    assert state["calls"] == 3
    assert (kept.parses, kept.hits) == (2, 1)  # a new Link header is another answer
    assert (last_page, token) == (None, "abc")
    assert first == again == same_body
    assert first is not again  # each caller has its own list
