"""Micro-benchmark: what the HTTP layer costs on top of execution, in CPU per request.

In one process: the mock upstreams (no added latency) and the gateway app. The per-user query
is run in a loop three ways: `schema.execute` alone ("execute"), and the whole ASGI app called
with a POST scope ("app": middleware, routing, the view, execution), once with the lean path
(app/http/lean.py) and once through Strawberry's view. uvicorn's own share (httptools, the
socket) is in none of them. The modes take turns in rounds; the figure is the median round,
in CPU ms per request.
Run as `.venv/bin/python bench/request_path.py [--requests 300] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import Route

from app.auth import ANONYMOUS
from app.http.view import GatewayGraphQL
from app.main import create_app
from app.mocks import MockUpstreams, generate
from app.settings import Settings
from bench.execution import _user_variables
from bench.queries import GATEWAY_USER_QUERY


def _view(app: Starlette) -> GatewayGraphQL:
    """The app's GraphQL view."""
    return next(r.endpoint for r in app.routes if isinstance(r, Route) and r.path == "/graphql")


@contextlib.asynccontextmanager
async def _started(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    """The app's lifespan state, as uvicorn would hand it to each request."""
    async with app.router.lifespan_context(app) as state:
        yield dict(state or {})


async def _post(
    app: Starlette,
    state: dict[str, Any],
    body: bytes,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> tuple[int, bytes]:
    """One POST /graphql through the ASGI app, with `headers` added; its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": state.copy(),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _run(requests: int, rounds: int) -> dict[str, float]:
    data = generate()
    variables = _user_variables(data)
    body = orjson.dumps({"query": GATEWAY_USER_QUERY, "variables": variables})
    async with MockUpstreams(data) as mocks:
        env = {
            **mocks.gateway_env(),
            "GATEWAY_CURSOR_SECRET": "bench",
            "GATEWAY_ALLOW_ANONYMOUS": "true",
        }
        apps = {
            "app, lean path": create_app(Settings.from_environ(env)),
            "app, Strawberry's view": create_app(Settings.from_environ(env)),
        }
        _view(apps["app, Strawberry's view"]).lean = False
        async with contextlib.AsyncExitStack() as stack:
            states = {
                name: await stack.enter_async_context(_started(a)) for name, a in apps.items()
            }
            view = _view(apps["app, lean path"])
            schema = view.schema
            state = states["app, lean path"]

            async def execute() -> None:
                # as the view makes it: the request's deadline and call budget start here
                context = view.context_for(Headers(), state["upstreams"], ANONYMOUS)
                result = await schema.execute(GATEWAY_USER_QUERY, variables, context_value=context)
                assert not result.errors, result.errors

            def through(name: str) -> Any:
                async def call() -> None:
                    status, answer = await _post(apps[name], states[name], body)
                    assert status == 200, (status, answer[:300])
                    assert b'"errors"' not in answer, answer[:300]

                return call

            modes = {"execute": execute, **{name: through(name) for name in apps}}
            for call in modes.values():  # warm-up: parse, validate, plans, connections
                for _ in range(5):
                    await call()
            times: dict[str, list[float]] = {mode: [] for mode in modes}
            for _ in range(rounds):
                for mode, call in modes.items():
                    gc.collect()
                    started = time.process_time()
                    for _ in range(requests):
                        await call()
                    times[mode].append((time.process_time() - started) * 1000 / requests)
            return {mode: statistics.median(t) for mode, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(_run(args.requests, args.rounds))
    base = figures["execute"]
    print("| mode | CPU ms per request | over `schema.execute` |")
    print("|---|---:|---:|")
    for mode, ms in figures.items():
        print(f"| {mode} | {ms:.3f} | {ms - base:+.3f} |")


if __name__ == "__main__":
    main()
