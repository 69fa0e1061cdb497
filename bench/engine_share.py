"""Micro-benchmark: the GraphQL engine's share of the per-user query, in CPU per request.

What a compiled path from upstream JSON to response bytes could save at most. The per-user
query of bench/workloads.py (`USER_QUERY`) is answered two ways, taking turns, in one process:

- `engine`: `schema.execute` and the response's JSON, as the gateway answers it (Strawberry,
  graphql-core and the compiled plans of resolvers/engine);
- `direct`: bench/direct.py, the same data path by hand with no GraphQL engine, doing what any
  other path would still do per request (the variables' coercion, the price, the request
  metrics and log line).

Both make the same upstream calls through the same layers and client, and the run checks that
they answer the same bytes for every user. The mock upstreams (no added latency) run in a
process of their own, pinned to the first core where there are two, this one to the second;
only this process's CPU is counted. The figure is the median of `--rounds` samples per way.

Run as `.venv/bin/python bench/engine_share.py [--requests 800] [--rounds 8] [--first 50]`
(`--first`: the page size the query asks). bench/engine_bypass.py measures the same on
bench/run, over HTTP.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import uvloop  # noqa: E402

from app.http.serving import tune_collector  # noqa: E402
from app.listing.cursor import CursorCodec  # noqa: E402
from app.main import client_session, upstream_client  # noqa: E402
from app.observability.metrics import Metrics  # noqa: E402
from app.observability.tracing import Tracing  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.upstream.upstreams import Upstreams  # noqa: E402
from bench import direct  # noqa: E402
from bench.queries import _compact  # noqa: E402
from bench.workloads import USER_QUERY  # noqa: E402
from resolvers.engine.cost import Prices  # noqa: E402
from resolvers.schema import Limits, build_schema  # noqa: E402
from resolvers.types.context import Context  # noqa: E402

CONCURRENCY = 16
PROVIDERS = ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID")


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
        limits = Limits.of(settings)
        schema = build_schema(limits)
        cursors = CursorCodec(b"bench")
        known = direct.Known(_compact(USER_QUERY % first), first)
        prices = Prices(limits.max_cost, limits.max_upstream_calls)

        async def engine(variables: dict[str, Any]) -> bytes:
            context = Context.create(upstreams, cursors, metrics=metrics)
            result = await schema.execute(known.text, variables, context_value=context)
            if result.errors:
                raise RuntimeError(result.errors)
            return orjson.dumps({"data": result.data})

        async def by_hand(variables: dict[str, Any]) -> bytes:
            context = Context.create(upstreams, cursors, metrics=metrics)
            data = await direct.answer(schema._schema, prices, known, context, variables)
            return orjson.dumps({"data": data})

        ways: dict[str, Callable[[dict[str, Any]], Awaitable[bytes]]] = {
            "engine": engine,
            "direct": by_hand,
        }
        for variables in bodies:  # the same answer both ways, byte for byte
            if await engine(variables) != await by_hand(variables):
                raise RuntimeError(f"the two ways answer differently for {variables}")
        sent = 0

        async def caller(answer: Callable[[dict[str, Any]], Awaitable[bytes]], count: int) -> None:
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
    mocks = subprocess.Popen(
        [*(["taskset", "-c", str(cores[0])] if pin else []), sys.executable,
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
        middle, low = statistics.median(samples), min(samples)
        print(f"| {name} | {middle:.3f} | {low:.3f} | {len(samples)} |")
    engine, by_hand = (statistics.median(figures[name]) for name in ("engine", "direct"))
    print(
        f"\nthe engine's share: {(engine - by_hand) / engine:.0%} of the engine's CPU per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
