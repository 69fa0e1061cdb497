"""The four mock upstreams with a fixed latency, run as a process of its own for bench/run.

Prints one JSON line once listening: the upstream URLs, the `GATEWAY_*` environment pointing at
them (one Prefactor pool, so the per-user query costs one call per provider), the users to rotate
through and the control URL. Control: `GET /calls` answers the calls each upstream received since
the last read, by provider and path, the response body bytes each upstream sent, the connections
they came on and the latest call of each (every call with `?detail=1`), and forgets them: what a
target really fetched, whatever it was asked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.mocks import MockData, MockUpstreams, generate

# Sizes of the large data set: more than 10,000 sessions visible through one Prefactor pool.
LARGE = {
    "privx_sessions": 4200,
    "prefactor_sessions": 3000,
    "zitadel_sessions": 4200,
    "hyperid_sessions": 300,
}


def users_in_every_provider(data: MockData, pool_index: int = 0) -> list[dict[str, str]]:
    """People with sessions in PrivX, ZITADEL and the pool, by each provider's own user id.

    hyper.id answers for its cookie's user only (`current`), so it is the same on every request.
    """
    pool_id = data.prefactor_pool_ids[pool_index]
    privx = {s["user_id"] for s in data.privx}
    zitadel = {s.get("factors", {}).get("user", {}).get("id") for s in data.zitadel}
    prefactor = {s["authenticated_identity_id"] for s in data.prefactor if s["pool_id"] == pool_id}
    users = []
    for person in data.people:
        identity = person.prefactor_identity_ids[pool_index]
        if (
            person.privx_user_id in privx
            and person.zitadel_user_id in zitadel
            and identity in prefactor
        ):
            users.append(
                {
                    "PRIVX": person.privx_user_id,
                    "PREFACTOR": identity,
                    "ZITADEL": person.zitadel_user_id,
                    "HYPERID": "current",
                }
            )
    return users


SENT = web.AppKey("sent", list[int])
# The client ends of the connections each upstream was called on since the last read: a target
# that opens a connection per call does more work than one that keeps them alive.
PEERS = web.AppKey("peers", set[object])


@web.middleware
async def count_sent(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the body bytes of every answer to `request.app[SENT]` (streams are not counted)."""
    if request.transport is not None:
        request.app[PEERS].add(request.transport.get_extra_info("peername"))
    response = await handler(request)
    body = getattr(response, "body", None)
    if isinstance(body, bytes | bytearray):
        request.app[SENT][0] += len(body)
    return response


def count_bytes(mocks: MockUpstreams) -> None:
    """Count the bytes every upstream answers; before the mocks start (middlewares freeze)."""
    for app in mocks.apps.values():
        app[SENT] = [0]
        app[PEERS] = set()
        app.middlewares.insert(0, count_sent)


def control_app(mocks: MockUpstreams) -> web.Application:
    """`GET /calls`: per-provider call counts and answer bytes since the last read."""

    async def calls(request: web.Request) -> web.Response:
        counts: dict[str, Any] = {}
        sent: dict[str, int] = {}
        connections: dict[str, int] = {}
        paths: dict[str, int] = {}
        last: dict[str, Any] = {}
        # `?detail=1`: every call, not only the latest of each upstream.
        detail = request.query.get("detail") == "1"
        every: list[list[str]] = []
        for provider in mocks.urls:
            recorded = mocks.calls(provider)
            counts[provider] = len(recorded)
            sent[provider] = mocks.apps[provider][SENT][0]
            mocks.apps[provider][SENT][0] = 0
            connections[provider] = len(mocks.apps[provider][PEERS])
            mocks.apps[provider][PEERS].clear()
            if recorded:
                call = recorded[-1]
                last[provider] = [call.method, call.path, call.query_string, call.body]
            for call in recorded:
                key = f"{provider} {call.method} {call.path}"
                paths[key] = paths.get(key, 0) + 1
                if detail:
                    every.append([provider, call.method, call.path, call.query_string, call.body])
        mocks.reset_calls()
        answer = {"calls": counts, "bytes": sent, "connections": connections, "paths": paths}
        return web.json_response(answer | {"last": last} | ({"every": every} if detail else {}))

    app = web.Application()
    app.router.add_get("/calls", calls)
    return app


async def serve(args: argparse.Namespace) -> None:
    sizes = LARGE if args.large else {}
    data = generate(args.seed, **sizes)
    pool_id = data.prefactor_pool_ids[0]
    mocks = MockUpstreams(data, latency=args.latency_ms / 1000)
    count_bytes(mocks)
    async with mocks:
        runner = web.AppRunner(control_app(mocks), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        control_port = runner.addresses[0][1]
        # The per-user query, the floor and the peer cover the four original APIs; Kratos
        # (added later) stays out of the gateway too, so every target makes the same calls.
        env = {
            k: v for k, v in mocks.gateway_env().items() if not k.startswith("GATEWAY_KRATOS_")
        } | {"GATEWAY_PREFACTOR_POOL_IDS": pool_id}
        urls = {p: u for p, u in mocks.urls.items() if p != "KRATOS"}
        visible = (
            len(data.privx)
            + sum(1 for s in data.prefactor if s["pool_id"] == pool_id)
            + len(data.zitadel)
            + len(data.hyperid_sessions)
        )
        ready = {
            "urls": urls,
            "env": env,
            "credentials": {
                "privx_token": mocks.credentials.privx_token,
                "prefactor_token": mocks.credentials.prefactor_token,
                "zitadel_token": mocks.credentials.zitadel_token,
                "hyperid_cookie": f"ss-id={mocks.credentials.hyperid_session}",
            },
            "prefactor_pool_id": pool_id,
            "users": users_in_every_provider(data),
            "sessions_visible": visible,
            "control": f"http://127.0.0.1:{control_port}",
        }
        print(json.dumps(ready), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # Never outlive the bench: stop at the deadline even if nobody says so.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--large", action="store_true", help="10,000+ sessions for page walks")
    parser.add_argument("--max-seconds", type=float, default=1200.0)
    args = parser.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
