"""What each call layer does, as its caller sees it: statuses and messages, the credential's
renewal, request bodies, the waits between attempts and when they stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import TestServer
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from app.core.circuit import CircuitBreaker
from app.core.errors import (
    RequestDeadline,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from app.observability.metrics import Metrics
from app.upstream import request_deadline
from app.upstream.calls import retrying
from app.upstream.credentials import Credential
from app.upstream.endpoint import Endpoint
from app.upstream.health import ProviderHealth

pytestmark = pytest.mark.server


@dataclass
class Upstream:
    """`/status/{code}` answers that status; `/echo` the request's type and JSON body;
    `/once-then-hang` 503 once, then never answers; `/retry-later` 503 with Retry-After: 2;
    `/token` 401 unless the fresh token."""

    url: str = ""
    seen: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream()

    async def status(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        return web.Response(status=int(request.match_info["code"]))

    async def echo(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        body = await request.json() if request.can_read_body else None
        return web.json_response({"type": request.content_type, "body": body})

    async def once_then_hang(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        if len(state.seen) > 1:
            await asyncio.Event().wait()
        return web.Response(status=503, headers={"Retry-After": "0"})

    async def retry_later(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        return web.Response(status=503, headers={"Retry-After": "2"})

    async def token(request: web.Request) -> web.Response:
        state.seen.append(request.path)
        state.tokens.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer fresh":
            return web.Response(status=401)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/once-then-hang", once_then_hang)
    app.router.add_route("*", "/token", token)
    app.router.add_get("/retry-later", retry_later)
    async with TestServer(app, host="127.0.0.1") as server:
        state.url = str(server.make_url("/"))
        yield state


def endpoint(session: aiohttp.ClientSession, upstream: Upstream, **options: Any) -> Endpoint:
    return Endpoint(
        session, provider="ZITADEL", base_url=upstream.url, headers={}, **{"retries": 0, **options}
    )


def body(payload: Any) -> Any:
    return payload


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (400, UpstreamBadResponse, "ZITADEL refused the gateway's request (HTTP 400)."),
        (401, UpstreamUnauthorized, "ZITADEL rejected the gateway's credentials (HTTP 401)."),
        (403, UpstreamUnauthorized, "ZITADEL rejected the gateway's credentials (HTTP 403)."),
        (404, UpstreamBadResponse, "ZITADEL refused the gateway's request (HTTP 404)."),
        (429, UpstreamUnavailable, "ZITADEL is rate limiting the gateway (HTTP 429)."),
        (499, UpstreamBadResponse, "ZITADEL refused the gateway's request (HTTP 499)."),
        (500, UpstreamUnavailable, "ZITADEL answered HTTP 500."),
        (501, UpstreamUnavailable, "ZITADEL answered HTTP 501."),
        (503, UpstreamUnavailable, "ZITADEL answered HTTP 503."),
    ],
)
async def test_each_status_becomes_its_error_naming_the_provider(
    upstream: Upstream, status: int, error: type[UpstreamError], message: str
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamError) as caught:
            await endpoint(session, upstream).call("GET", f"/status/{status}", body)

    assert type(caught.value) is error
    assert str(caught.value) == message
    assert caught.value.extensions == {"code": error.code, "provider": "ZITADEL"}


async def test_an_empty_answer_is_none_and_an_expected_status_its_value(
    upstream: Upstream,
) -> None:
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream)
        assert await calls.call("GET", "/status/200", body) is None
        assert await calls.call("GET", "/status/204", body) is None
        assert await calls.call("GET", "/status/404", body, expected={404: "gone"}) == "gone"


async def test_a_body_is_sent_as_json_and_none_sends_no_body(upstream: Upstream) -> None:
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream)
        sent = await calls.call("POST", "/echo", body, body={"ids": ["a", "b"]})
        empty = await calls.call("POST", "/echo", body)

    assert sent == {"type": "application/json", "body": {"ids": ["a", "b"]}}
    assert empty == {"type": "application/octet-stream", "body": None}


async def test_a_call_past_the_per_call_timeout_is_the_upstreams_timeout(
    upstream: Upstream,
) -> None:
    health = ProviderHealth(circuit=CircuitBreaker(failures=1))
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        calls = endpoint(session, upstream, retries=2, health=health)
        with pytest.raises(UpstreamTimeout) as caught:
            await calls.call("GET", "/once-then-hang", body)

    assert not isinstance(caught.value, RequestDeadline)
    assert str(caught.value) == "ZITADEL did not answer in time."
    assert caught.value.extensions == {"code": "UPSTREAM_TIMEOUT", "provider": "ZITADEL"}
    # Retried after the 503; the timeout of the second attempt is not retried.
    assert upstream.seen == ["/once-then-hang", "/once-then-hang"]
    assert health.last_error_code == "UPSTREAM_TIMEOUT"


async def test_a_refused_connection_names_the_provider() -> None:
    async with aiohttp.ClientSession() as session:
        calls = Endpoint(session, provider="PRIVX", base_url="http://127.0.0.1:9", headers={})
        with pytest.raises(UpstreamUnavailable) as caught:
            await calls.call("GET", "/x", body)

    assert str(caught.value) == "PRIVX is unavailable."
    assert caught.value.extensions == {"code": "UPSTREAM_UNAVAILABLE", "provider": "PRIVX"}


async def test_an_open_circuit_refuses_with_the_provider_and_the_wait() -> None:
    health = ProviderHealth(circuit=CircuitBreaker(failures=1, cooldown=60.0))
    health.circuit.record(failed=True)
    async with aiohttp.ClientSession() as session:
        calls = Endpoint(
            session, provider="PRIVX", base_url="http://127.0.0.1:9", headers={}, health=health
        )
        with pytest.raises(UpstreamUnavailable) as caught:
            await calls.call("GET", "/x", body)

    assert str(caught.value) == (
        "PRIVX is failing; the gateway skips it for another 60 s (circuit open)."
    )
    assert caught.value.extensions == {
        "code": "UPSTREAM_UNAVAILABLE",
        "provider": "PRIVX",
        "circuit": "OPEN",
    }


class Renewing(Credential):
    """A token that is stale until invalidated, then fresh (or stale again, if `stays_stale`)."""

    refreshable = True

    def __init__(self, stays_stale: bool = False) -> None:
        super().__init__()
        self.token = "stale"
        self.stays_stale = stays_stale
        self.invalidated: list[Mapping[str, str]] = []

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self, used: Mapping[str, str]) -> None:
        self.invalidated.append(dict(used))
        self.token = "stale" if self.stays_stale else "fresh"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_401_renews_the_token_once_and_sends_again(upstream: Upstream, method: str) -> None:
    credential = Renewing()
    async with aiohttp.ClientSession() as session:
        answer = await endpoint(session, upstream, credential=credential).call(
            method, "/token", body
        )

    assert answer == {"ok": True}
    assert upstream.tokens == ["Bearer stale", "Bearer fresh"]
    assert credential.invalidated == [{"Authorization": "Bearer stale"}]


async def test_a_token_refused_again_is_unauthorized_after_one_renewal(
    upstream: Upstream,
) -> None:
    credential = Renewing(stays_stale=True)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnauthorized):
            await endpoint(session, upstream, credential=credential, retries=2).call(
                "GET", "/token", body
            )

    assert upstream.tokens == ["Bearer stale", "Bearer stale"]
    assert len(credential.invalidated) == 1


async def test_a_static_credential_is_not_renewed(upstream: Upstream) -> None:
    credential = Credential({"Authorization": "Bearer stale"})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnauthorized):
            await endpoint(session, upstream, credential=credential).call("GET", "/token", body)

    assert upstream.tokens == ["Bearer stale"]


@pytest.fixture
def waits() -> Iterator[list[RetryDetails]]:
    """The waits stamina schedules, as its instrumentation reports them."""
    scheduled: list[RetryDetails] = []

    def record(details: RetryDetails) -> None:
        scheduled.append(details)

    set_on_retry_hooks([record])
    yield scheduled
    set_on_retry_hooks(None)


async def test_backoff_grows_with_jitter_up_to_its_cap(
    upstream: Upstream, waits: list[RetryDetails]
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnavailable):
            await endpoint(session, upstream, retries=3).call("GET", "/status/502", body)

    assert upstream.seen == ["/status/502"] * 4
    # stamina reports each wait as a difference of sums: allow for rounding.
    first, second, third = (round(w.wait_for, 9) for w in waits)
    initial, jitter = retrying.WAIT_INITIAL, retrying.WAIT_JITTER
    assert initial < first <= initial + jitter  # jittered: never exactly the base
    assert 2 * initial < second <= 2 * initial + jitter
    assert third == retrying.WAIT_MAX
    assert stamina.is_active()


async def test_one_retry_is_one_more_attempt(upstream: Upstream, waits: list[RetryDetails]) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnavailable):
            await endpoint(session, upstream, retries=1).call("GET", "/status/503", body)

    assert upstream.seen == ["/status/503"] * 2
    assert len(waits) == 1


async def test_a_retry_after_that_ends_past_the_deadline_is_not_waited_for(
    upstream: Upstream,
) -> None:
    async with aiohttp.ClientSession() as session:
        request_deadline.start(1.0)
        with pytest.raises(UpstreamUnavailable) as caught:
            await endpoint(session, upstream, retries=2).call("GET", "/retry-later", body)

    assert str(caught.value) == "ZITADEL answered HTTP 503."
    assert upstream.seen == ["/retry-later"]


async def test_call_durations_are_measured_from_the_start(upstream: Upstream) -> None:
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        await endpoint(session, upstream, metrics=metrics).call("GET", "/status/200", body)

    seconds = metrics.registry.get_sample_value(
        "gateway_upstream_call_duration_seconds_sum", {"provider": "ZITADEL"}
    )
    assert seconds is not None
    assert 0 < seconds < 60
