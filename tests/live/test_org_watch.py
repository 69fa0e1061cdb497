"""An organisation-wide watch over thousands of sessions per provider, over real HTTP.

The mocks hold several listings' worth of sessions at each paged upstream; one SSE subscriber
watches all of them. Sessions created at each upstream arrive as CREATED, sessions ended there
(deep in each listing, where only the sweep reads) as ENDED with the upstream's reason, and
no poll of a provider makes more than a bounded number of calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks import MockData, generate
from app.mocks.churn import begin
from app.mocks.credentials import Credentials
from tests.support.live import LiveStack, get

pytestmark = pytest.mark.server

INTERVAL = 0.5
PAGED = ("PRIVX", "PREFACTOR", "ZITADEL", "KRATOS")
QUERY = (
    "subscription { sessionEvents(filter: {providers: [PRIVX, PREFACTOR, ZITADEL, KRATOS]}) "
    "{ kind sessionId provider reason } }"
)
MOST_CALLS = 10  # per provider per poll


@pytest.fixture(scope="module")
def org() -> MockData:
    return generate(
        privx_sessions=5000,
        prefactor_sessions=4000,
        zitadel_sessions=5000,
        kratos_sessions=5000,
        hyperid_sessions=10,
    )


def read(lines: list[str], head: str) -> float:
    for line in lines:
        if line.startswith(head + " "):
            return float(line.split()[1])
    return 0.0


def metric(stack: LiveStack, name: str, labels: str) -> float:
    _, _, body = get(stack.url.removesuffix("/graphql") + "/metrics")
    return read(body.decode().splitlines(), f"{name}{{{labels}}}")


def polls(stack: LiveStack, provider: str) -> float:
    return metric(stack, "gateway_live_poll_calls_count", f'provider="{provider}"')


def sweeps(stack: LiveStack, provider: str) -> float:
    return metric(stack, "gateway_live_sweeps_total", f'provider="{provider}"')


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The oldest session each upstream shows as ACTIVE, and how to end it through that upstream.
def _live(provider: str, session: dict[str, Any], now: datetime) -> bool:
    if provider == "PRIVX":
        return not session["logged_out"] and _time(session["expires"]) > now
    if provider == "PREFACTOR":
        return bool(session["status"] == "authenticated")
    if provider == "ZITADEL":
        expires = session.get("expirationDate")
        return "user" in session.get("factors", {}) and (not expires or _time(expires) > now)
    return bool(
        session["active"]
        and _time(session["expires_at"]) > now
        and session["identity"]["state"] == "active"
    )


CREATED: dict[str, Callable[[dict[str, Any]], str]] = {
    "PRIVX": lambda s: str(s["created"]),
    "PREFACTOR": lambda s: str(s["id"]),
    "ZITADEL": lambda s: str(s["creationDate"]),
    "KRATOS": lambda s: str(s["issued_at"]),
}


def oldest_live(data: MockData, provider: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    found = [s for s in data.sessions(provider) if _live(provider, s, now)]
    if provider == "PRIVX":  # terminating a parent ends its children too: pick a leaf
        parents = {s.get("parent_session_id") for s in data.privx}
        found = [s for s in found if s["id"] not in parents]
    return min(found, key=CREATED[provider])


async def end_upstream(
    http: aiohttp.ClientSession, urls: dict[str, str], provider: str, native: str
) -> None:
    """End a session through the upstream's own API, as its admin would."""
    creds = Credentials()
    if provider == "PRIVX":
        url = f"{urls[provider]}/auth/api/v1/sessionstorage/sessions/{native}/terminate"
        request = http.post(url, headers={"Authorization": f"Bearer {creds.privx_token}"})
    elif provider == "PREFACTOR":
        url = f"{urls[provider]}/api/v1/session/{native}/revoke"
        request = http.post(url, headers={"Authorization": f"Bearer {creds.prefactor_token}"})
    elif provider == "ZITADEL":
        url = f"{urls[provider]}/v2/sessions/{native}"
        request = http.delete(url, headers={"Authorization": f"Bearer {creds.zitadel_token}"})
    else:
        url = f"{urls[provider]}/admin/sessions/{native}"
        request = http.delete(url, headers={"Authorization": f"Bearer {creds.kratos_token}"})
    async with request as response:
        assert response.status < 300, await response.text()


async def listen(http: aiohttp.ClientSession, url: str, events: list[dict[str, Any]]) -> None:
    headers = {"Accept": "text/event-stream"}
    async with http.post(url, json={"query": QUERY}, headers=headers) as response:
        assert response.status == 200
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("data:"):
                payload = json.loads(line.removeprefix("data:"))
                events.append(payload)


WAIT = 60.0  # seconds: generous on a busy machine


async def until(check: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what()}"
        await asyncio.sleep(0.1)


def test_an_org_wide_watch_sees_creations_and_ends_at_bounded_cost(org: MockData) -> None:
    env = {"GATEWAY_POLL_INTERVAL": str(INTERVAL)}
    with LiveStack(org, env=env) as stack:
        urls = dict(stack.mocks.urls)

        async def run() -> None:
            events: list[dict[str, Any]] = []
            async with aiohttp.ClientSession() as http:
                task = asyncio.create_task(listen(http, stack.url, events))
                # The watch knows every session once its sweep has gone round each listing.
                await until(lambda: all(sweeps(stack, p) >= 1 for p in PAGED), lambda: "a sweep")
                data = stack.mocks.data
                ended = {p: oldest_live(data, p)["id"] for p in PAGED}

                async def create() -> dict[str, str]:
                    return {p: str(begin(data, p)["id"]) for p in PAGED}

                created = stack.run(create())
                for provider, native in ended.items():
                    await end_upstream(http, urls, provider, native)

                def seen(kind: str, provider: str, native: str) -> dict[str, Any] | None:
                    wanted = ids.encode(ids.SESSION, Provider(provider), native)
                    for event in events:
                        found = (event.get("data") or {}).get("sessionEvents") or {}
                        if found.get("kind") == kind and found.get("sessionId") == wanted:
                            return found
                    return None

                await until(
                    lambda: all(seen("CREATED", p, n) for p, n in created.items()),
                    lambda: (
                        f"CREATED of {[p for p, n in created.items() if not seen('CREATED', p, n)]}"
                    ),
                )
                await until(
                    lambda: all(seen("ENDED", p, n) for p, n in ended.items()),
                    lambda: f"ENDED of {[p for p, n in ended.items() if not seen('ENDED', p, n)]}",
                )
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                assert not [e for e in events if e.get("errors")], events[:3]
                reasons = {p: seen("ENDED", p, n)["reason"] for p, n in ended.items()}  # type: ignore[index]
                assert reasons == {
                    "PRIVX": "LOGGED_OUT",
                    "PREFACTOR": "REVOKED",
                    "ZITADEL": "DISAPPEARED",
                    "KRATOS": "REVOKED",
                }

        asyncio.run(run())
        # One reading of /metrics, then the mocks' counts (which only grow meanwhile).
        _, _, body = get(stack.url.removesuffix("/graphql") + "/metrics")
        lines = body.decode().splitlines()
        calls = {p: len(stack.calls(p)) for p in PAGED}
        for provider in PAGED:
            # Every poll of every provider made at most MOST_CALLS calls (the histogram's
            # bucket), and the mocks saw at least the calls the gateway counted.
            labels = f'provider="{provider}"'
            count = read(lines, f"gateway_live_poll_calls_count{{{labels}}}")
            within = read(lines, f'gateway_live_poll_calls_bucket{{le="{MOST_CALLS}.0",{labels}}}')
            assert count >= 2
            assert within == count, provider
            assert calls[provider] >= read(lines, f"gateway_live_poll_calls_sum{{{labels}}}")
            # The new session's CREATED was timed from its creation upstream.
            lag = f'gateway_live_event_lag_seconds_count{{kind="CREATED",{labels}}}'
            assert read(lines, lag) >= 1, provider
