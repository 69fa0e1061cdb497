"""The floor: a plain aiohttp server that makes the gateway's four upstream calls in parallel.

POST / with `{"privx", "identity", "pool", "zitadel", "limit"}` answers the four upstream bodies
as they came, in one JSON object by provider. No parsing, no merging: what the machine allows.
Upstreams and credentials come from the `GATEWAY_*` and `BENCH_*` environment bench/run sets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)


async def handle(request: web.Request) -> web.Response:
    wanted = await request.json()
    session = request.app[SESSION]
    env = os.environ
    privx, prefactor = env["GATEWAY_PRIVX_URL"], env["GATEWAY_PREFACTOR_URL"]
    zitadel, hyperid = env["GATEWAY_ZITADEL_URL"], env["GATEWAY_HYPERID_URL"]
    limit = str(wanted.get("limit", 50))

    async def fetch(method: str, url: str, **kwargs: object) -> bytes:
        async with session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
            response.raise_for_status()
            return await response.read()

    bodies = await asyncio.gather(
        fetch(
            "POST",
            f"{privx}/auth/api/v1/sessionstorage/sessions/search",
            params={"offset": "0", "limit": limit, "sortkey": "created", "sortdir": "DESC"},
            json={"user_id": wanted["privx"]},
            headers={"Authorization": f"Bearer {env['BENCH_PRIVX_TOKEN']}"},
        ),
        fetch(
            "GET",
            f"{prefactor}/api/v1/session",
            params={
                "pool_id": wanted["pool"],
                "pagination[offset]": "0",
                "pagination[page_size]": "100",
                "authenticated_identity_id": wanted["identity"],
            },
            headers={"Authorization": f"Bearer {env['BENCH_PREFACTOR_TOKEN']}"},
        ),
        fetch(
            "POST",
            f"{zitadel}/v2/sessions/search",
            json={
                "query": {"offset": "0", "limit": int(limit), "asc": False},
                "queries": [{"userIdQuery": {"id": wanted["zitadel"]}}],
                "sortingColumn": "SESSION_FIELD_NAME_CREATION_DATE",
            },
            headers={"Authorization": f"Bearer {env['BENCH_ZITADEL_TOKEN']}"},
        ),
        fetch("GET", f"{hyperid}/api/sessions", headers={"Cookie": env["BENCH_HYPERID_COOKIE"]}),
    )
    names = (b"PRIVX", b"PREFACTOR", b"ZITADEL", b"HYPERID")
    parts = [b'"' + name + b'":' + body for name, body in zip(names, bodies, strict=True)]
    return web.Response(body=b"{" + b",".join(parts) + b"}", content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def session_context(app: web.Application):  # type: ignore[no-untyped-def]
    connector = aiohttp.TCPConnector(limit_per_host=32)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.cleanup_ctx.append(session_context)
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
