"""Optional OpenTelemetry spans: one per request, one per upstream call, nested; off by default."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core.errors import UpstreamUnavailable
from app.observability.tracing import Tracing
from app.upstream.endpoint import Endpoint
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    # Set once per process, as OpenTelemetry requires (mutmut runs pytest twice in one).
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(memory))
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


async def test_an_upstream_span_names_provider_method_and_status(
    exporter: InMemorySpanExporter,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]))

    app = web.Application()
    app.router.add_get("/{code}", answer)
    exporter.clear()
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        calls = Endpoint(
            session,
            provider="PRIVX",
            base_url=str(server.make_url("/")),
            headers={},
            retries=0,
            tracing=Tracing(enabled=True),
        )
        await calls.call("GET", "/204", lambda payload: payload)
        with pytest.raises(UpstreamUnavailable):
            await calls.call("GET", "/503", lambda payload: payload)

    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["upstream PRIVX", "upstream PRIVX"]
    assert [dict(s.attributes or {}) for s in spans] == [
        {
            "gateway.provider": "PRIVX",
            "http.request.method": "GET",
            "http.response.status_code": 204,
        },
        {
            "gateway.provider": "PRIVX",
            "http.request.method": "GET",
            "http.response.status_code": 503,
        },
    ]
