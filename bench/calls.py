"""Micro-benchmark: CPU per `Endpoint.call` (all its layers) against a loopback aiohttp server.

In one process: a server answering a small JSON body, and an Endpoint calling it 1000 times at
once per round (16 in flight, the default limit); the figure is the best round, in CPU µs per
call, the server's share included. Compare commits by running it in each checkout:
`PYTHONPATH=. .venv/bin/python bench/calls.py [--rounds 15]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.upstream._http import Endpoint


def same(payload: Any) -> Any:
    return payload


async def measure(rounds: int, calls: int) -> float:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"items": [1, 2]})

    app = web.Application()
    app.router.add_get("/items", answer)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        endpoint = Endpoint(
            session, provider="BENCH", base_url=str(server.make_url("/")), headers={}
        )
        for _ in range(300):  # warm up connections and caches
            await endpoint.call("GET", "/items", same)
        best = float("inf")
        for _ in range(rounds):
            began = time.process_time()
            await asyncio.gather(*(endpoint.call("GET", "/items", same) for _ in range(calls)))
            best = min(best, (time.process_time() - began) / calls * 1e6)
        return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    print(f"{asyncio.run(measure(args.rounds, args.calls)):.0f} µs CPU per call (server included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
