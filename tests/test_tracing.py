"""Optional OpenTelemetry spans: one per request, one per upstream call, nested; off by default."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.live import LiveStack, post


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)  # once per process, as OpenTelemetry requires
    return memory


def test_spans_per_request_and_upstream_call(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with LiveStack(env={"GATEWAY_TRACING": "true"}) as live:
        post(live.url, "query Traced { sessions(first: 3) { totalCount } }")
    spans = exporter.get_finished_spans()

    (request,) = [s for s in spans if s.name == "graphql request"]
    assert request.attributes is not None
    assert request.attributes["graphql.operation.name"] == "Traced"
    upstream = [s for s in spans if s.name.startswith("upstream ")]
    assert {s.name for s in upstream} == {
        "upstream PRIVX",
        "upstream PREFACTOR",
        "upstream ZITADEL",
        "upstream HYPERID",
        "upstream KRATOS",
    }
    assert all(
        s.parent is not None and s.parent.span_id == request.context.span_id for s in upstream
    )
    assert all(s.attributes and s.attributes["http.response.status_code"] == 200 for s in upstream)


def test_no_spans_without_gateway_tracing(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with LiveStack() as live:
        assert post(live.url, "{ sessions(first: 3) { totalCount } }")["data"]
    assert exporter.get_finished_spans() == ()
