"""Micro-benchmark: the GraphQL engine's share of the per-user query, in CPU per request.

What a compiled path from upstream JSON to response bytes could save at most. Two ways of
answering the per-user query (`GATEWAY_USER_QUERY`) take turns in one process:

- `engine`: `schema.execute` and the response's JSON, as the gateway answers it (Strawberry,
  graphql-core and the compiled plans of resolvers/engine);
- `direct`: the same data path written out by hand, with no GraphQL engine: the filter from the
  variables, the caller's restriction, the provider streams, the merged page, and the selected
  fields of each session straight from its record into a dict for orjson; and what any other
  path would still do per request: graphql-core's coercion of the variables (its errors are the
  answer's), the query's price (resolvers/engine/cost.py, as `Documents` checks it on every
  request), the request metrics and the request log line (as `RequestLog` writes them).

Both make the same upstream calls through the same layers and client, and the run checks that
they answer the same bytes for every user. The mock upstreams (no added latency) run in a
process of their own, pinned to the first core where there are two, this one to the second;
only this process's CPU is counted. The figure is the median of `--rounds` samples per way.

Run as `.venv/bin/python bench/engine_share.py [--requests 800] [--rounds 8] [--first 50]`
(`--first`: the page size the query asks, 50 as bench/queries.py has it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import uvloop  # noqa: E402
from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, parse  # noqa: E402
from graphql.execution.values import get_variable_values  # noqa: E402

from app.core.records import SessionRecord  # noqa: E402
from app.http.serving import tune_collector  # noqa: E402
from app.listing.cursor import CursorCodec  # noqa: E402
from app.listing.filter import SessionFilter  # noqa: E402
from app.listing.paginate import paginate  # noqa: E402
from app.main import client_session, upstream_client  # noqa: E402
from app.observability.metrics import Metrics  # noqa: E402
from app.observability.tracing import Tracing  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.upstream import accounting  # noqa: E402
from app.upstream.fanout import fingerprint, plan_streams  # noqa: E402
from app.upstream.upstreams import Upstreams  # noqa: E402
from bench.queries import GATEWAY_USER_QUERY  # noqa: E402
from resolvers.engine.cost import Prices  # noqa: E402
from resolvers.engine.request_log import log  # noqa: E402
from resolvers.schema import Limits, build_schema  # noqa: E402
from resolvers.types.agent import UserAgent  # noqa: E402
from resolvers.types.context import Context  # noqa: E402
from resolvers.types.whereabouts import located  # noqa: E402

CONCURRENCY = 16
PROVIDERS = ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID")


def _node(record: SessionRecord) -> dict[str, Any]:
    """The fields the query selects, as the schema answers them."""
    # The type's own resolvers (Strawberry fields to the type checker).
    agent: Any = UserAgent(record=record.user_agent) if record.user_agent else None
    return {
        "id": record.global_id,
        "provider": record.provider.name,
        "createdAt": record.created_at.isoformat(),
        "status": record.status.name,
        "userAgent": None
        if agent is None
        else {"browserName": agent.browser_name(), "osName": agent.os_name()},
    }


class _Known:
    """A known document, parsed once as the document cache keeps it."""

    def __init__(self, schema: GraphQLSchema, text: str, prices: Prices) -> None:
        self.schema = schema
        self.document: DocumentNode = parse(text)
        operation = self.document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        self.variables = operation.variable_definitions or ()
        self.name = operation.name.value if operation.name else None
        self.prices = prices


async def _direct(known: _Known, context: Context, variables: dict[str, Any], first: int) -> bytes:
    """The per-user query's answer without the GraphQL engine."""
    started = time.perf_counter()
    upstreams = context.upstreams
    coerced = get_variable_values(known.schema, known.variables, variables, max_errors=50)
    if isinstance(coerced, list):
        raise RuntimeError(coerced)
    if known.prices.check(known.document, variables, upstreams.listings) is not None:
        raise RuntimeError("priced out")
    # Coerced: each user's provider is a `Provider` member already.
    users = frozenset((u["provider"], u["nativeId"]) for u in coerced.coerced["users"])
    requested = context.principal.restrict(SessionFilter(users=users))
    session_filter = located(requested, upstreams.locator)
    streams = plan_streams(upstreams, session_filter, descending=True, scope=context.loaders.scope)
    page = await paginate(
        streams,
        descending=True,
        fingerprint=fingerprint(session_filter, True, streams),
        forward=True,
        size=first,
        cursor=None,
    )
    if page.failures or page.gaps:
        raise RuntimeError("an upstream failed")
    edges = [{"node": _node(edge.record)} for edge in page.edges]
    answer = orjson.dumps({"data": {"sessions": {"edges": edges}}})
    seconds = time.perf_counter() - started
    if context.metrics is not None:
        context.metrics.request(known.name, "ok", seconds, context.principal.identity)
    log.info(
        "graphql request",
        extra={
            "requestId": context.request_id,
            "operation": known.name,
            "durationMs": round(seconds * 1000, 2),
            "upstreamCalls": accounting.calls(),
            "outcome": "ok",
            "errorCodes": [],
        },
    )
    return answer


async def _run(
    ready: dict[str, Any], requests: int, rounds: int, first: int
) -> dict[str, list[float]]:
    tune_collector()
    env = {**ready["env"], "GATEWAY_CURSOR_SECRET": "bench", "GATEWAY_ALLOW_ANONYMOUS": "true"}
    settings = Settings.from_environ(env)
    metrics = Metrics()
    bodies = [
        {"users": [{"provider": p, "nativeId": user[p]} for p in PROVIDERS]}
        for user in ready["users"]
    ]
    async with client_session(settings) as session, upstream_client(settings) as client:
        upstreams = Upstreams.create(session, settings, metrics, Tracing(False), client=client)
        schema = build_schema(Limits.of(settings))
        document = GATEWAY_USER_QUERY.replace("first: 50", f"first: {first}")
        limits = Limits.of(settings)
        known = _Known(schema._schema, document, Prices(limits.max_cost, limits.max_upstream_calls))
        cursors = CursorCodec(b"bench")

        async def engine(variables: dict[str, Any]) -> bytes:
            context = Context.create(upstreams, cursors, metrics=metrics)
            result = await schema.execute(document, variables, context_value=context)
            if result.errors:
                raise RuntimeError(result.errors)
            return orjson.dumps({"data": result.data})

        async def direct(variables: dict[str, Any]) -> bytes:
            context = Context.create(upstreams, cursors, metrics=metrics)
            return await _direct(known, context, variables, first)

        ways = {"engine": engine, "direct": direct}
        for variables in bodies:  # the same answer both ways, byte for byte
            if await engine(variables) != await direct(variables):
                raise RuntimeError(f"the two ways answer differently for {variables}")
        sent = 0

        async def caller(answer: Any, count: int) -> None:
            nonlocal sent
            for _ in range(count):
                sent += 1
                await answer(bodies[sent % len(bodies)])

        figures: dict[str, list[float]] = {name: [] for name in ways}
        for answer in ways.values():  # warm-up
            await asyncio.gather(*(caller(answer, 10) for _ in range(CONCURRENCY)))
        for turn in range(rounds):
            order = list(ways.items())
            for name, answer in order[turn % 2 :] + order[: turn % 2]:
                gc.collect()
                started = time.process_time()
                per = requests // CONCURRENCY
                await asyncio.gather(*(caller(answer, per) for _ in range(CONCURRENCY)))
                figures[name].append((time.process_time() - started) * 1000 / (per * CONCURRENCY))
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800, help="per sample")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--first", type=int, default=50, help="the page size the query asks")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    pin = len(cores) >= 2 and Path("/usr/bin/taskset").exists()
    python = sys.executable
    mocks = subprocess.Popen(
        [*(["taskset", "-c", str(cores[0])] if pin else []), python,
         str(HERE / "mocks_server.py"), "--latency-ms", "0"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert mocks.stdout is not None
        ready = json.loads(mocks.stdout.readline())
        if pin:
            os.sched_setaffinity(0, {cores[1]})
        figures = uvloop.run(_run(ready, args.requests, args.rounds, args.first))
    finally:
        mocks.terminate()
        mocks.wait()
    print("| way | CPU ms per request, median | lowest | samples |")
    print("|---|---:|---:|---:|")
    for name, samples in figures.items():
        print(
            f"| {name} | {statistics.median(samples):.3f} | {min(samples):.3f} | {len(samples)} |"
        )
    engine, direct = (statistics.median(figures[name]) for name in ("engine", "direct"))
    print(f"\nthe engine's share: {(engine - direct) / engine:.0%} of the engine's CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
