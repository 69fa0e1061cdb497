from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from app.mocks import Fault, FaultPlan, MockData, MockUpstreams, generate
from app.mocks.faults import FAULT

pytestmark = pytest.mark.server

NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
PRIVX = "/auth/api/v1/sessionstorage"
AUTH = {
    "PRIVX": {"Authorization": "Bearer privx-demo-token"},
    "PREFACTOR": {"Authorization": "Bearer prefactor-demo-key"},
    "ZITADEL": {"Authorization": "Bearer zitadel-demo-pat"},
    "HYPERID": {"Cookie": "ss-id=hyperid-demo-session"},
}
BAD_AUTH = {
    "PRIVX": {"Authorization": "Bearer stale"},
    "PREFACTOR": {"Authorization": "Bearer stale"},
    "ZITADEL": {"Authorization": "Bearer stale"},
    "HYPERID": {"Cookie": "ss-id=stale"},
}
ERROR_KEYS = {
    "PRIVX": {"error_code", "error_message", "property", "details"},
    "PREFACTOR": {"status", "code", "message"},
    "ZITADEL": {"code", "message", "details"},
    "HYPERID": {"responseStatus"},
}


@pytest.fixture(scope="module")
def data() -> MockData:
    return generate(now=NOW, privx_sessions=20, prefactor_sessions=20, zitadel_sessions=20)


def read_request(mocks: MockUpstreams, provider: str) -> tuple[str, str, dict[str, Any]]:
    """A request that each upstream answers with 200 and a JSON object."""
    url = mocks.urls[provider]
    match provider:
        case "PRIVX":
            return "GET", f"{url}{PRIVX}/users/current/sessions", {}
        case "PREFACTOR":
            params = {"pool_id": mocks.data.prefactor_pool_ids[0]}
            return "GET", f"{url}/api/v1/session", {"params": params}
        case "ZITADEL":
            return "POST", f"{url}/v2/sessions/search", {"json": {}}
        case _:
            return "GET", f"{url}/api/sessions", {}


async def fetch(
    http: aiohttp.ClientSession, mocks: MockUpstreams, provider: str, *, auth: bool = True
) -> tuple[int, Any]:
    method, url, kwargs = read_request(mocks, provider)
    headers = AUTH[provider] if auth else BAD_AUTH[provider]
    async with http.request(method, url, headers=headers, **kwargs) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("provider", ["PRIVX", "PREFACTOR", "ZITADEL", "HYPERID"])
@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.SERVER_ERROR, 500), (Fault.UNAVAILABLE, 503), (Fault.RATE_LIMITED, 429)],
)
async def test_error_faults_answer_in_the_provider_error_shape(
    mocks: MockUpstreams, http: aiohttp.ClientSession, provider: str, fault: Fault, status: int
) -> None:
    mocks.set_fault(provider, FaultPlan(fault))

    got_status, body = await fetch(http, mocks, provider)

    assert got_status == status
    assert set(body) == ERROR_KEYS[provider]
    assert len(mocks.calls(provider)) == 1  # Faulted requests are still recorded.


@pytest.mark.parametrize("provider", ["PRIVX", "PREFACTOR", "ZITADEL", "HYPERID"])
async def test_unauthorized_looks_like_the_real_rejection(
    mocks: MockUpstreams, http: aiohttp.ClientSession, provider: str
) -> None:
    real = await fetch(http, mocks, provider, auth=False)
    mocks.set_fault(provider, FaultPlan(Fault.UNAUTHORIZED))

    assert await fetch(http, mocks, provider) == real
    assert real[0] == 401


async def test_rate_limited_sends_retry_after(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("HYPERID", FaultPlan(Fault.RATE_LIMITED, retry_after=7))
    method, url, kwargs = read_request(mocks, "HYPERID")

    async with http.request(method, url, headers=AUTH["HYPERID"], **kwargs) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"


async def test_slow_answers_normally_after_the_delay(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    normal = await fetch(http, mocks, "PREFACTOR")
    mocks.set_fault("PREFACTOR", FaultPlan(Fault.SLOW, delay=0.2))

    started = time.monotonic()
    slow = await fetch(http, mocks, "PREFACTOR")

    assert time.monotonic() - started >= 0.2
    assert slow == normal


async def test_truncated_sends_half_the_real_body(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    method, url, kwargs = read_request(mocks, "PRIVX")
    async with http.request(method, url, headers=AUTH["PRIVX"], **kwargs) as response:
        real = await response.read()
    mocks.set_fault("PRIVX", FaultPlan(Fault.TRUNCATED))

    async with http.request(method, url, headers=AUTH["PRIVX"], **kwargs) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == real[: len(real) // 2]
        with pytest.raises(json.JSONDecodeError):
            await response.json()


async def test_wrong_shape_is_valid_json_of_another_shape(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("HYPERID", FaultPlan(Fault.WRONG_SHAPE))
    assert await fetch(http, mocks, "HYPERID") == (200, {"unexpected": []})

    # An empty real answer (terminate) becomes a JSON string.
    mocks.set_fault("PRIVX", FaultPlan(Fault.WRONG_SHAPE))
    url = f"{mocks.urls['PRIVX']}{PRIVX}/users/current/sessions/terminate"
    async with http.post(url, headers=AUTH["PRIVX"]) as response:
        assert (response.status, await response.json()) == (200, "unexpected")


async def test_disconnect_drops_the_connection_without_a_response(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("ZITADEL", FaultPlan(Fault.DISCONNECT))

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(http, mocks, "ZITADEL")
    assert len(mocks.calls("ZITADEL")) == 1


async def test_aiohttp_retries_an_idempotent_request_once_after_a_disconnect(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("HYPERID", FaultPlan(Fault.DISCONNECT, times=1))

    status, _ = await fetch(http, mocks, "HYPERID")

    assert status == 200
    assert len(mocks.calls("HYPERID")) == 2


async def test_times_limits_the_fault_to_the_next_requests(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("PREFACTOR", FaultPlan(Fault.SERVER_ERROR, times=2))

    statuses = [(await fetch(http, mocks, "PREFACTOR"))[0] for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert mocks.apps["PREFACTOR"][FAULT].plan is None


async def test_paths_scope_the_fault(mocks: MockUpstreams, http: aiohttp.ClientSession) -> None:
    mocks.set_fault("PRIVX", FaultPlan(Fault.UNAVAILABLE, times=1, paths=(f"{PRIVX}/sources/",)))
    base = f"{mocks.urls['PRIVX']}{PRIVX}"

    async with http.get(f"{base}/users/current/sessions", headers=AUTH["PRIVX"]) as response:
        assert response.status == 200  # Out of scope, and not counted against `times`.
    async with http.get(f"{base}/sources/s1/sessions", headers=AUTH["PRIVX"]) as response:
        assert response.status == 503
    async with http.get(f"{base}/sources/s1/sessions", headers=AUTH["PRIVX"]) as response:
        assert response.status == 200


async def test_faults_are_per_provider_and_cleared(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    # set_fault only swaps state, so a test thread can drive a server loop running elsewhere.
    await asyncio.to_thread(mocks.set_fault, "ZITADEL", FaultPlan(Fault.SERVER_ERROR))
    mocks.set_fault("PRIVX", FaultPlan(Fault.SERVER_ERROR))
    mocks.set_fault("PRIVX", None)

    assert (await fetch(http, mocks, "PRIVX"))[0] == 200
    assert (await fetch(http, mocks, "HYPERID"))[0] == 200
    assert (await fetch(http, mocks, "ZITADEL"))[0] == 500
    mocks.clear_faults()
    assert (await fetch(http, mocks, "ZITADEL"))[0] == 200


async def test_hang_is_cancelled_when_the_client_gives_up(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("PRIVX", FaultPlan(Fault.HANG, times=1))
    method, url, kwargs = read_request(mocks, "PRIVX")
    timeout = aiohttp.ClientTimeout(total=0.3)

    with pytest.raises(TimeoutError):
        async with http.request(method, url, headers=AUTH["PRIVX"], timeout=timeout, **kwargs):
            pass

    async with asyncio.timeout(2):
        while mocks.apps["PRIVX"][FAULT].hanging:  # noqa: ASYNC110 - the mock exposes a set
            await asyncio.sleep(0.01)
    assert (await fetch(http, mocks, "PRIVX"))[0] == 200


async def test_hang_is_released_when_the_mocks_stop(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    mocks.set_fault("ZITADEL", FaultPlan(Fault.HANG))
    pending = asyncio.create_task(fetch(http, mocks, "ZITADEL"))
    async with asyncio.timeout(2):
        while not mocks.apps["ZITADEL"][FAULT].hanging:  # noqa: ASYNC110 - see above
            await asyncio.sleep(0.01)

    # A POST, so aiohttp does not retry it against the now closed port.
    started = time.monotonic()
    await mocks.close()

    # Released, not waited out: a hang lasts an hour and aiohttp's shutdown timeout is 60 s.
    # The bound is generous for a busy machine; a release takes milliseconds.
    assert time.monotonic() - started < 20
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pending


async def test_stopped_provider_refuses_connections_until_started_again(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    url = mocks.urls["PREFACTOR"]
    assert (await fetch(http, mocks, "PREFACTOR"))[0] == 200  # Leaves a keep-alive connection.

    await mocks.stop_provider("PREFACTOR")

    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await fetch(http, mocks, "PREFACTOR")
    assert isinstance(refused.value.os_error, ConnectionRefusedError)
    assert (await fetch(http, mocks, "PRIVX"))[0] == 200

    await mocks.start_provider("PREFACTOR")

    assert mocks.urls["PREFACTOR"] == url
    assert (await fetch(http, mocks, "PREFACTOR"))[0] == 200


def test_plans_reject_negative_parameters() -> None:
    with pytest.raises(ValueError, match="times"):
        FaultPlan(Fault.SERVER_ERROR, times=-1)
    with pytest.raises(ValueError, match="delay"):
        FaultPlan(Fault.SLOW, delay=-0.5)
