"""Micro-benchmark: CPU per request of one query in several checkouts, taking turns.

For comparing builds (a commit against its parent, a change against main) with less noise than
`bench/run`: the mock upstreams (no added latency) run in a process of their own, pinned to
the first core; each build runs, pinned to the second, in a process that imports its own
checkout and calls `schema.execute` (upstream calls included, over loopback) 16 requests at a
time, with the collector as `serve` sets it and uvloop. Only that process's CPU is counted, so
neither the mocks nor uvicorn are in the figure. The builds take turns for `--rounds` rounds
of three samples; the figures are the median and the lowest sample per build.

Run as `.venv/bin/python bench/builds.py CHECKOUT [CHECKOUT ...] [--requests 800]
[--rounds 6] [--query user|full]`, e.g. with a `git worktree` of the parent commit beside the
working tree; `--query full` measures the first full page of 100 (`FULL_PAGE_QUERY`) instead.
A build is `CHECKOUT` run by this venv's Python, or `CHECKOUT=PYTHON` run by another interpreter
(a venv of another CPython with requirements.lock installed), to compare runtimes on one code.
"""

from __future__ import annotations

import argparse
import asyncio
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
VENV = ROOT / ".venv" / "bin" if (ROOT / ".venv").exists() else Path(sys.executable).parent
CONCURRENCY = 16
PROVIDERS = ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID")


def _pinned(core: int) -> list[str]:
    """`taskset` to one core where there are two or more (and taskset); else nothing."""
    cores = os.sched_getaffinity(0)
    if len(cores) < 2 or not Path("/usr/bin/taskset").exists():
        return []
    return ["taskset", "-c", str(sorted(cores)[core])]


async def _samples(ready: dict[str, Any], requests: int, samples: int, query: str) -> list[float]:
    """In a build's process: CPU ms per request of `samples` runs of `requests` requests."""
    import contextlib
    import gc

    from app.listing.cursor import CursorCodec
    from app.main import client_session
    from app.settings import Settings
    from app.upstream.upstreams import Upstreams
    from bench.queries import FULL_PAGE_QUERY, GATEWAY_USER_QUERY
    from resolvers.schema import Limits, build_schema

    # A checkout from before app/ and resolvers/ were layered keeps these at their old paths.
    try:
        from app.http.serving import tune_collector
        from app.observability.metrics import Metrics
        from app.observability.tracing import Tracing
        from resolvers.types.context import Context
    except ImportError:
        from app.metrics import Metrics  # type: ignore[no-redef]
        from app.serving import tune_collector  # type: ignore[no-redef]
        from app.tracing import Tracing  # type: ignore[no-redef]
        from resolvers.context import Context  # type: ignore[no-redef]

    try:  # the upstream calls' own client, where a build has one
        from app.main import upstream_client
    except ImportError:
        upstream_client = None  # type: ignore[assignment]

    tune_collector()
    env = {**ready["env"], "GATEWAY_CURSOR_SECRET": "bench", "GATEWAY_ALLOW_ANONYMOUS": "true"}
    settings = Settings.from_environ(env)
    metrics = Metrics()
    document = GATEWAY_USER_QUERY if query == "user" else FULL_PAGE_QUERY
    variables: list[dict[str, Any]] = [
        {"users": [{"provider": p, "nativeId": user[p]} for p in PROVIDERS]}
        for user in ready["users"]
    ]
    if query == "full":
        variables = [{}]
    sent = 0
    lean = upstream_client(settings) if upstream_client else contextlib.nullcontext()
    async with client_session(settings) as session, lean as client:
        if client is not None:
            upstreams = Upstreams.create(session, settings, metrics, Tracing(False), client=client)
        else:
            upstreams = Upstreams.create(session, settings, metrics, Tracing(False))
        schema = build_schema(Limits.of(settings))
        cursors = CursorCodec(b"bench")

        async def caller(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                sent += 1
                context = Context.create(upstreams, cursors, metrics=metrics)
                user = variables[sent % len(variables)]
                result = await schema.execute(document, user, context_value=context)
                assert not result.errors, result.errors

        await asyncio.gather(*(caller(10) for _ in range(CONCURRENCY)))  # warm-up
        figures = []
        for _ in range(samples):
            gc.collect()
            started = time.process_time()
            await asyncio.gather(*(caller(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
            figures.append((time.process_time() - started) * 1000 / requests)
        return figures


def _worker(checkout: str, ready: str, requests: int, samples: int, query: str) -> None:
    sys.path.insert(0, checkout)
    import uvloop

    print(json.dumps(uvloop.run(_samples(json.loads(ready), requests, samples, query))))


def _build(build: str) -> tuple[str, str]:
    """`CHECKOUT` or `CHECKOUT=PYTHON`: the checkout, and the interpreter that runs it."""
    checkout, _, python = build.partition("=")
    return checkout, python or str(VENV / "python")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkouts", nargs="+", metavar="CHECKOUT[=PYTHON]",
        help="working trees of the builds to compare, each with the Python to run it",
    )  # fmt: skip
    parser.add_argument("--requests", type=int, default=800, help="per sample")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--query", choices=("user", "full"), default="user",
        help="the per-user query, or the first full page of 100 (bench/queries.py)",
    )  # fmt: skip
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)  # (checkout, handshake)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker[0], args.worker[1], args.requests, 3, args.query)
        return 0
    mocks = subprocess.Popen(
        [*_pinned(0), str(VENV / "python"), str(HERE / "mocks_server.py"), "--latency-ms", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert mocks.stdout is not None
        ready = mocks.stdout.readline()
        figures: dict[str, list[float]] = {build: [] for build in args.checkouts}
        for _ in range(args.rounds):
            for build in args.checkouts:
                checkout, python = _build(build)
                command = [
                    *_pinned(1), python, str(HERE / "builds.py"), checkout,
                    "--requests", str(args.requests), "--query", args.query,
                    "--worker", checkout, ready,
                ]  # fmt: skip
                env = {**os.environ, "PYTHONPATH": checkout}
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                figures[build] += json.loads(done.stdout)
        print("| build | CPU ms per request, median | lowest | samples |")
        print("|---|---:|---:|---:|")
        for build, samples in figures.items():
            low, middle = min(samples), statistics.median(samples)
            print(f"| {build} | {middle:.3f} | {low:.3f} | {len(samples)} |")
        return 0
    finally:
        mocks.terminate()
        mocks.wait()


if __name__ == "__main__":
    sys.exit(main())
