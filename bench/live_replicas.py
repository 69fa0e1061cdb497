"""Live subscriptions on replicas: upstream calls for one watch with 1 and 3 gateways.

Starts the bench mocks (bench/mocks_server.py), a throwaway redis-server and gateway processes,
then measures windows of --seconds each, one organisation-wide SSE subscription per gateway:
one gateway with GATEWAY_REDIS_URL; three gateways sharing that Redis (one lease holder polls);
three gateways without Redis (each polls). Upstream calls per poll interval are counted at the
mocks. A markdown table goes to stdout. See docs/live.md, "Replicas".

    PYTHONPATH=$PWD python bench/live_replicas.py [--interval 1] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import redis
from harness import ROOT, Bench, mock_calls
from live_fanout import metric, subscriber
from procs import free_port, start


async def window(
    urls: list[str], key: str, seconds: float, interval: float, mocks: dict[str, Any]
) -> dict[str, Any]:
    """One subscription on each gateway of `urls`; the calls of `seconds` of polling."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        opened: list[int] = []
        ready = asyncio.Event()
        tasks = [asyncio.create_task(subscriber(session, u, key, ready, opened)) for u in urls]
        deadline = time.monotonic() + 60
        while len(opened) < len(urls) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            for task in tasks:
                if task.done() and task.exception():
                    raise RuntimeError(str(task.exception()))
        await asyncio.sleep(3 * interval)  # joined, leased, past the first poll
        mock_calls(mocks)  # forget what came before
        began = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - began
        calls = mock_calls(mocks)["calls"]
        bases = [u.removesuffix("/graphql") for u in urls]
        row = {
            "gateways": len(urls),
            "polling": sum(metric(b, "gateway_live_leases") for b in bases),
            "calls_per_interval": {
                p: round(n / (elapsed / interval), 2) for p, n in sorted(calls.items())
            },
        }
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return row


def wait_redis(port: int) -> None:
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def table(rows: list[dict[str, Any]]) -> str:
    providers = sorted(rows[0]["calls_per_interval"])
    head = ["window", "gateways", "lease holders", *providers, "all"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        calls = row["calls_per_interval"]
        cells = [row["name"], str(row["gateways"]), row["holders"],
                 *(str(calls.get(p, 0)) for p in providers),
                 str(round(sum(calls.values()), 2))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    args = parser.parse_args()
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench = Bench(args, stamp)
    rows = []
    try:
        _mocks_proc, mocks = bench.start_mocks(large=False)
        port = free_port()
        command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no"]  # fmt: skip
        bench.started.append(start("redis", command, bench.logs, cwd=ROOT))
        wait_redis(port)
        key = secrets.token_urlsafe(16)
        env = {
            "GATEWAY_ALLOW_ANONYMOUS": "false",
            "GATEWAY_API_KEYS": json.dumps(
                [{"name": "admin", "key": key, "scopes": ["sessions:read:all"]}]
            ),
            "GATEWAY_POLL_INTERVAL": str(args.interval),
        }
        shared = env | {"GATEWAY_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        plan = [
            ("1 gateway, Redis", [shared], True),
            ("3 gateways, one Redis", [shared] * 3, True),
            ("3 gateways, no Redis", [env] * 3, False),
        ]
        for name, envs, replicated in plan:
            started = [bench.start_gateway(mocks, 1, f"gateway{i}", e) for i, e in enumerate(envs)]
            urls = [url for _, url in started]
            row = asyncio.run(window(urls, key, args.seconds, args.interval, mocks))
            row["holders"] = str(int(row.pop("polling"))) if replicated else "-"
            rows.append({"name": name, **row})
            print(f"# {name}: {json.dumps(row)}", file=sys.stderr)
            for proc, _ in started:
                bench.stop(proc)
    finally:
        bench.stop_all()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
