"""Micro-benchmark: client CPU per upstream call, through `Endpoint.call` and without it.

A loopback aiohttp server in a child process answers a small JSON body; this process (on uvloop,
as the gateway) calls it 1000 times per round, 16 in flight (the default per-provider limit):
- "layers, lean client": `Endpoint.call`, every call layer (app/upstream/calls/) over the lean
  HTTP/1.1 client (app/upstream/calls/http1.py), as the gateway calls by default;
- "lean client": that client's `request` alone, the body decoded with orjson;
- "layers, aiohttp": `Endpoint.call` over aiohttp's session (GATEWAY_FAST_PATH=false);
- "bare aiohttp": `ClientSession.get`, the body read as bytes and decoded with orjson;
- "raw asyncio": a minimal HTTP/1.1 keep-alive client over asyncio streams (16 connections),
  the floor for any client written in Python on this event loop.
The modes take turns; the figure is each mode's best round, in CPU µs per call of this process
only (the server's CPU is in its own process). Compare commits by running it in each checkout:
`PYTHONPATH=. .venv/bin/python bench/calls.py [--rounds 15]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from aiohttp import web
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.upstream.calls.http1 import HttpClient
from app.upstream.endpoint import Endpoint

IN_FLIGHT = 16


def same(payload: Any) -> Any:
    return payload


def _serve(sock: socket.socket) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"items": [1, 2]})

    app = web.Application()
    app.router.add_get("/items", answer)
    web.run_app(app, sock=sock, print=None, access_log=None)


class RawClient:
    """Keep-alive HTTP/1.1 GETs over asyncio streams, one request per connection at a time."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get_json(self, path: str) -> Any:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        self._idle.append((reader, writer))
        return orjson.loads(body)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


async def measure(rounds: int, calls: int, port: int) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}/"
    url = f"{base}items"
    client = HttpClient(timeout=10.0, connect_timeout=3.0, limit_per_host=IN_FLIGHT)
    async with aiohttp.ClientSession() as session:
        lean = Endpoint(session, provider="BENCH", base_url=base, headers={}, client=client)
        endpoint = Endpoint(session, provider="BENCH", base_url=base, headers={})
        raw = RawClient("127.0.0.1", port)
        limit = asyncio.Semaphore(IN_FLIGHT)
        target = URL(url)

        async def alone() -> Any:
            async with limit:
                answer = await client.request("GET", target, {}, None)
                return orjson.loads(answer.content)

        async def bare() -> Any:
            async with limit, session.get(url) as response:
                return orjson.loads(await response.read())

        async def rawcall() -> Any:
            async with limit:
                return await raw.get_json("/items")

        modes: dict[str, Callable[[], Awaitable[Any]]] = {
            "layers, lean client": lambda: lean.call("GET", "/items", same),
            "lean client": alone,
            "layers, aiohttp": lambda: endpoint.call("GET", "/items", same),
            "bare aiohttp": bare,
            "raw asyncio": rawcall,
        }
        for call in modes.values():  # warm up connections and caches
            for _ in range(300):
                assert await call() == {"items": [1, 2]}
        best = dict.fromkeys(modes, float("inf"))
        for _ in range(rounds):
            for name, call in modes.items():
                began = time.process_time()
                await asyncio.gather(*(call() for _ in range(calls)))
                best[name] = min(best[name], (time.process_time() - began) / calls * 1e6)
        raw.close()
    await client.close()
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
    server.start()
    try:
        for _ in range(100):  # until the server listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        best = uvloop.run(measure(args.rounds, args.calls, port))
    finally:
        server.terminate()
    print("| client | CPU µs per call (client only) |")
    print("|---|---:|")
    for name, micros in best.items():
        print(f"| {name} | {micros:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
