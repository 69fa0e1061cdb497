"""Fault matrix over real HTTP: one provider fails in each way; the others still answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import ids
from app.listing.filter import SessionFilter
from app.mocks import Fault, FaultPlan
from app.upstream.records import Provider
from tests.expected import expected_ids
from tests.live import LiveStack, post

DEADLINE_S = 1.0
PAGE = """
query ($after: String) {
  sessions(first: 40, after: $after) {
    missingProviders
    totalCount
    edges { node { id provider createdAt } }
    pageInfo { endCursor hasNextPage }
  }
}
"""
SECRETS = ("privx-demo-token", "prefactor-demo-key", "zitadel-demo-pat", "hyperid-demo-session")


@pytest.fixture(scope="module")
def faulty() -> Iterator[LiveStack]:
    env = {"GATEWAY_REQUEST_TIMEOUT": str(DEADLINE_S), "GATEWAY_BREAKER_FAILURES": "1000"}
    with LiveStack(env=env) as live:
        yield live


@pytest.fixture
def stack(faulty: LiveStack) -> Iterator[LiveStack]:
    faulty.reset_calls()
    yield faulty
    faulty.mocks.clear_faults()


def others(live: LiveStack, failed: Provider) -> list[str]:
    healthy = frozenset(p for p in Provider if p is not failed)
    return expected_ids(live.mocks.data, SessionFilter(providers=healthy), descending=True)


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
    assert [e["node"]["id"] for e in page["edges"]] == others(stack, provider)[:40]
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
    first = post(stack.url, PAGE)["data"]["sessions"]
    stack.mocks.clear_faults()

    second = post(stack.url, PAGE, {"after": first["pageInfo"]["endCursor"]})

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
    seen = [e["node"]["id"] for e in first["edges"] + second["data"]["sessions"]["edges"]]
    everything = expected_ids(stack.mocks.data, SessionFilter(), descending=True)
    assert len(set(seen)) == len(seen)
    # The second page continues in order after the first page's last session.
    positions = [everything.index(i) for i in seen]
    assert positions == sorted(positions)


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
