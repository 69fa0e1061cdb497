"""The floor: a plain aiohttp server that makes a request's upstream calls in parallel.

POST / with `{"calls": [[provider, method, path, query, body], ...]}` (the calls the gateway made
for one request, as the mocks recorded them: bench/harness.py records them per request body)
makes every call at once and answers the upstream bodies as they came, in one JSON array. No
parsing, no merging, no waiting for one call before the next: what the machine allows for that
work. The calls go over the gateway's own lean client (app/upstream/calls/http1.py), the
cheapest this project has, so the floor is no easier to beat than the gateway's own transport.
Upstreams and credentials come from the `BENCH_*` environment bench/run sets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from aiohttp import web
from yarl import URL

from app.upstream.calls.http1 import HttpClient

CLIENT = web.AppKey("client", HttpClient)


def upstreams() -> dict[str, tuple[str, dict[str, str]]]:
    """Each provider's base URL and the headers that authenticate a call to it."""
    env = os.environ

    def bearer(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {env[f'BENCH_{name}_TOKEN']}"}

    return {
        "PRIVX": (env["BENCH_PRIVX_URL"], bearer("PRIVX")),
        "PREFACTOR": (env["BENCH_PREFACTOR_URL"], bearer("PREFACTOR")),
        "ZITADEL": (env["BENCH_ZITADEL_URL"], bearer("ZITADEL")),
        "HYPERID": (env["BENCH_HYPERID_URL"], {"Cookie": env["BENCH_HYPERID_COOKIE"]}),
    }


UPSTREAMS = web.AppKey("upstreams", dict)


async def handle(request: web.Request) -> web.Response:
    wanted = await request.json()
    client = request.app[CLIENT]
    known = request.app[UPSTREAMS]

    async def fetch(provider: str, method: str, path: str, query: str, body: str) -> bytes:
        base, headers = known[provider]
        # The mocks record queries decoded: yarl quotes them again, as the gateway sent them.
        url = URL(f"{base}{path}" + (f"?{query}" if query else ""))
        if body:
            headers = headers | {"Content-Type": "application/json"}
        data = body.encode() if body else None
        answer = await client.request(method, url, headers, data)
        if answer.status >= 400:
            raise web.HTTPBadGateway(text=f"{provider} answered {answer.status}")
        return answer.content

    bodies = await asyncio.gather(*(fetch(*call) for call in wanted["calls"]))
    return web.Response(body=b"[" + b",".join(bodies) + b"]", content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def client_context(app: web.Application):  # type: ignore[no-untyped-def]
    client = HttpClient(timeout=30.0, connect_timeout=5.0, limit_per_host=64)
    app[CLIENT] = client
    yield
    await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app[UPSTREAMS] = upstreams()
    app.cleanup_ctx.append(client_context)
    app.router.add_post("/", handle)
    app.router.add_get("/healthz", healthz)
    # The same event loop as the mocks and the gateway: uvloop when installed.
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
