"""Micro-benchmark: CPU per request of one cached query: compiled plans, short path, neither.

In one process: the mock upstreams (no added latency), the gateway's upstream clients and its
schema, and `schema.execute` called in a loop, so the document is parsed and validated once and
every later request is execution only (upstream calls included, on the same event loop). The
modes take turns in rounds; the figure is the median round, in CPU ms per request.
"on" is the gateway's default (compiled plans over the short path,
resolvers/engine/plan.py), "short" the short path alone, "off" Strawberry's own executor
(GATEWAY_FAST_PATH=false).
Run as `.venv/bin/python bench/execution.py [--requests 200] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.listing.cursor import CursorCodec
from app.main import client_session
from app.mocks import MockUpstreams, generate
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.settings import Settings
from app.upstream.upstreams import Upstreams
from bench.queries import FULL_PAGE_QUERY, GATEWAY_USER_QUERY
from resolvers.engine.execution import short_path_executor
from resolvers.schema import Limits, build_schema
from resolvers.types.context import Context


def _user_variables(data: Any) -> dict[str, Any]:
    """The per-user query's variables for the first person with PrivX and ZITADEL sessions."""
    privx = {s["user_id"] for s in data.privx}
    zitadel = {s["factors"]["user"]["id"] for s in data.zitadel if "user" in s.get("factors", {})}
    person = next(
        p for p in data.people if p.privx_user_id in privx and p.zitadel_user_id in zitadel
    )
    users = [
        {"provider": "PRIVX", "nativeId": person.privx_user_id},
        {"provider": "PREFACTOR", "nativeId": person.prefactor_identity_ids[0]},
        {"provider": "ZITADEL", "nativeId": person.zitadel_user_id},
        {"provider": "HYPERID", "nativeId": "current"},
    ]
    return {"users": users}


async def _run(requests: int, rounds: int) -> dict[str, dict[str, float]]:
    data = generate()
    async with MockUpstreams(data) as mocks:
        env = {
            **mocks.gateway_env(),
            "GATEWAY_CURSOR_SECRET": "bench",
            "GATEWAY_ALLOW_ANONYMOUS": "true",
        }
        settings = Settings.from_environ(env)
        metrics, tracing = Metrics(), Tracing(False)
        async with client_session(settings) as session:
            upstreams = Upstreams.create(session, settings, metrics, tracing)
            schemas = {"on": build_schema(Limits.of(settings))}
            plain = dataclasses.replace(Limits.of(settings), fast_path=False)
            schemas["short"] = short = build_schema(plain)
            short.execution_context_class = (
                short_path_executor(short) or short.execution_context_class
            )
            schemas["off"] = off = build_schema(Limits.of(settings))
            off.execution_context_class = StrawberryGraphQLCoreExecutionContext
            queries = {
                "per-user, 50 sessions": (GATEWAY_USER_QUERY, _user_variables(data)),
                "full page of 100": (FULL_PAGE_QUERY, {}),
            }
            cursors = CursorCodec(b"bench")
            figures: dict[str, dict[str, float]] = {}
            for name, (query, variables) in queries.items():
                times: dict[str, list[float]] = {mode: [] for mode in schemas}
                for mode, schema in schemas.items():  # warm-up: parse, validate, connections
                    for _ in range(5):
                        context = Context.create(upstreams, cursors, metrics=metrics)
                        result = await schema.execute(query, variables, context_value=context)
                        assert not result.errors, (mode, result.errors)
                for _ in range(rounds):
                    for mode, schema in schemas.items():
                        gc.collect()
                        started = time.process_time()
                        for _ in range(requests):
                            context = Context.create(upstreams, cursors, metrics=metrics)
                            await schema.execute(query, variables, context_value=context)
                        spent = time.process_time() - started
                        times[mode].append(spent * 1000 / requests)
                figures[name] = {mode: statistics.median(t) for mode, t in times.items()}
            return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(_run(args.requests, args.rounds))
    print("| query | compiled plans | short path | Strawberry's executor | plans / short |")
    print("|---|---:|---:|---:|---:|")
    for name, by_mode in figures.items():
        on, short, off = by_mode["on"], by_mode["short"], by_mode["off"]
        print(f"| {name} | {on:.2f} ms | {short:.2f} ms | {off:.2f} ms | {on / short:.2f} |")


if __name__ == "__main__":
    main()
