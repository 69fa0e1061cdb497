"""Fault matrix over real HTTP: one provider fails in each way; the others still answer.

The module's gateway serves the small world of tests/support/world.py, whose sessions are
written down.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks import Fault, FaultPlan
from tests.support import world
from tests.support.live import LiveStack, post
from tests.support.world import NEWEST_FIRST

pytestmark = pytest.mark.server

# The whole-request deadline. Generous: a warm page of this world takes under 50 ms even with
# both cores busy; the first request of a cold process took up to 0.6 s (the fixture makes it).
DEADLINE_S = 2.0
PAGE = """
query ($first: Int = 40, $after: String) {
  sessions(first: $first, after: $after) {
    missingProviders
    totalCount
    edges { node { id provider nativeId createdAt } }
    pageInfo { endCursor hasNextPage }
  }
}
"""
SECRETS = ("privx-demo-token", "prefactor-demo-key", "zitadel-demo-pat", "hyperid-demo-session")


@pytest.fixture(scope="module")
def faulty() -> Iterator[LiveStack]:
    env = {"GATEWAY_REQUEST_TIMEOUT": str(DEADLINE_S), "GATEWAY_BREAKER_FAILURES": "1000"}
    with LiveStack(world.small_world(), env=env) as live:
        assert "errors" not in post(live.url, PAGE)  # warm: connections, parsers
        yield live


@pytest.fixture
def stack(faulty: LiveStack) -> Iterator[LiveStack]:
    faulty.reset_calls()
    yield faulty
    faulty.mocks.clear_faults()


def listed(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["node"]["provider"], e["node"]["nativeId"]) for e in page["edges"]]


def others(failed: Provider) -> list[tuple[str, str]]:
    """The world's sessions, newest first, without those of `failed`."""
    return [(s.provider, s.native_id) for s in NEWEST_FIRST if s.provider != failed.value]


MATRIX = [
    (FaultPlan(Fault.HANG), "UPSTREAM_TIMEOUT"),
    (FaultPlan(Fault.SLOW, delay=DEADLINE_S * 3), "UPSTREAM_TIMEOUT"),
    (FaultPlan(Fault.SERVER_ERROR), "UPSTREAM_UNAVAILABLE"),
    (FaultPlan(Fault.UNAVAILABLE), "UPSTREAM_UNAVAILABLE"),
    (FaultPlan(Fault.RATE_LIMITED, retry_after=30), "UPSTREAM_UNAVAILABLE"),
    (FaultPlan(Fault.UNAUTHORIZED), "UPSTREAM_UNAUTHORIZED"),
    (FaultPlan(Fault.TRUNCATED), "UPSTREAM_BAD_RESPONSE"),
    (FaultPlan(Fault.WRONG_SHAPE), "UPSTREAM_BAD_RESPONSE"),
    (FaultPlan(Fault.DISCONNECT), "UPSTREAM_UNAVAILABLE"),
]


@pytest.mark.parametrize("provider", list(Provider), ids=lambda p: p.value)
@pytest.mark.parametrize(("plan", "code"), MATRIX, ids=lambda v: getattr(v, "fault", v))
def test_one_failing_provider_leaves_the_others_answering(
    stack: LiveStack, provider: Provider, plan: FaultPlan, code: str
) -> None:
    stack.mocks.set_fault(provider.value, plan)

    result = post(stack.url, PAGE)

    page = result["data"]["sessions"]
    assert page["missingProviders"] == [provider.value]
    assert listed(page) == others(provider)
    assert page["totalCount"] == len(others(provider))
    errors = [e for e in result["errors"] if e["extensions"].get("provider") == provider.value]
    assert {e["extensions"]["code"] for e in errors} == {code}
    if code == "UPSTREAM_TIMEOUT":
        # Cut by the gateway's own deadline, not by waiting for the upstream.
        assert errors[0]["extensions"]["deadline"] is True
    assert not any(secret in str(result) for secret in SECRETS)
    assert stack.url.split("/graphql")[0] not in str(result)


@pytest.mark.parametrize("provider", list(Provider), ids=lambda p: p.value)
def test_refused_connection_is_unavailable(stack: LiveStack, provider: Provider) -> None:
    stack.run(stack.mocks.stop_provider(provider.value))
    try:
        result = post(stack.url, PAGE)
    finally:
        stack.run(stack.mocks.start_provider(provider.value))

    assert result["data"]["sessions"]["missingProviders"] == [provider.value]
    extensions = result["errors"][0]["extensions"]
    assert extensions.pop("requestId")  # every error names its request
    assert extensions == {"code": "UPSTREAM_UNAVAILABLE", "provider": provider.value}


def test_transient_429_and_503_are_retried_transparently(stack: LiveStack) -> None:
    stack.mocks.set_fault("ZITADEL", FaultPlan(Fault.RATE_LIMITED, times=1, retry_after=0))
    stack.mocks.set_fault("PRIVX", FaultPlan(Fault.UNAVAILABLE, times=1))

    result = post(stack.url, PAGE)

    assert "errors" not in result
    assert result["data"]["sessions"]["missingProviders"] == []
    assert len(stack.calls("ZITADEL")) == 2
    assert len(stack.calls("PRIVX")) == 2


def test_cursor_of_a_partial_page_still_works(stack: LiveStack) -> None:
    stack.mocks.set_fault("ZITADEL", FaultPlan(Fault.SERVER_ERROR))
    first = post(stack.url, PAGE, {"first": 4})["data"]["sessions"]
    stack.mocks.clear_faults()

    second = post(stack.url, PAGE, {"first": 4, "after": first["pageInfo"]["endCursor"]})

    assert first["pageInfo"]["hasNextPage"] is True
    # Back, ZITADEL says which of its sessions the walk missed, and the walk goes on in order.
    (gap,) = second["errors"]
    assert gap["extensions"]["code"] == "WALK_INCOMPLETE"
    assert gap["extensions"]["provider"] == "ZITADEL"
    assert gap["extensions"]["missedSince"] is None
    assert gap["extensions"]["missedUntil"] == first["edges"][-1]["node"]["createdAt"].replace(
        "Z", "+00:00"
    )
    assert second["data"]["sessions"]["missingProviders"] == []
    assert listed(first) == [
        ("HYPERID", str(world.H3)),
        ("PREFACTOR", world.F3),
        ("PRIVX", world.P3),
        ("PRIVX", world.P2),
    ]
    # The second page continues after the first page's last session, ZITADEL's included; its
    # sessions newer than that (Z3, Z2) were on no page.
    assert listed(second["data"]["sessions"]) == [
        ("HYPERID", str(world.H2)),
        ("PREFACTOR", world.F2),
        ("HYPERID", str(world.H1)),
        ("PREFACTOR", world.F1),
    ]


def test_session_by_id_of_a_failing_provider_is_null_with_the_code(stack: LiveStack) -> None:
    stack.mocks.set_fault("PREFACTOR", FaultPlan(Fault.UNAUTHORIZED))
    data = stack.mocks.data
    query = "query ($a: ID!, $b: ID!) { a: session(id: $a) { id } b: session(id: $b) { id } }"
    a = ids.encode(ids.SESSION, Provider.PREFACTOR, data.prefactor[0]["id"])
    b = ids.encode(ids.SESSION, Provider.ZITADEL, data.zitadel[0]["id"])

    result = post(stack.url, query, {"a": a, "b": b})

    assert result["data"] == {"a": None, "b": {"id": b}}
    assert result["errors"][0]["path"] == ["a"]
    assert result["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAUTHORIZED"


def test_circuit_opens_after_repeated_failures_and_skips_the_provider() -> None:
    env = {"GATEWAY_BREAKER_FAILURES": "2", "GATEWAY_BREAKER_COOLDOWN": "60"}
    with LiveStack(env=env) as live:
        live.mocks.set_fault("HYPERID", FaultPlan(Fault.SERVER_ERROR))
        post(live.url, PAGE)
        post(live.url, PAGE)
        live.reset_calls()

        result = post(live.url, PAGE)
        providers = post(live.url, "{ providers { provider circuit health } }")

    assert not live.calls("HYPERID")  # skipped at once, no waiting
    error = result["errors"][0]["extensions"]
    del error["requestId"]
    assert error == {"code": "UPSTREAM_UNAVAILABLE", "provider": "HYPERID", "circuit": "OPEN"}
    states = {p["provider"]: p for p in providers["data"]["providers"]}
    assert states["HYPERID"]["circuit"] == "OPEN"
    assert states["PRIVX"]["circuit"] == "CLOSED"
