"""Live subscriptions fan-out: what N SSE subscribers cost the upstreams and the gateway.

Starts the bench mocks (bench/mocks_server.py) and one gateway process, then measures three
windows of --seconds each: one SSE subscriber of `sessionEvents`; N subscribers with the same
filter (one shared poller); N subscribers spread over --users scoped API keys (one poller per
user). For each: upstream calls per poll interval counted at the mocks, and the gateway's RSS
and CPU. A markdown table goes to stdout. See docs/performance.md, "Live subscriptions".

    PYTHONPATH=$PWD python bench/live_fanout.py [--subscribers 200] [--users 20]
        [--interval 1] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from harness import Bench, mock_calls
from procs import Proc

QUERY = "subscription Watch { sessionEvents { kind sessionId cursor } }"


def api_keys(users: Sequence[dict[str, str]], admin: str) -> tuple[str, list[str]]:
    """GATEWAY_API_KEYS: one admin key (reads all), one key per user scoped to their ids."""
    entries: list[dict[str, Any]] = [
        {"name": "admin", "key": admin, "scopes": ["sessions:read:all"]}
    ]
    keys = []
    for index, user in enumerate(users):
        key = secrets.token_urlsafe(16)
        keys.append(key)
        scoped = [{"provider": p, "id": user[p]} for p in ("PRIVX", "PREFACTOR", "ZITADEL")]
        entries.append({"name": f"user{index}", "key": key, "users": scoped})
    return json.dumps(entries), keys


async def subscriber(session: aiohttp.ClientSession, url: str, key: str, ready: asyncio.Event,
                     opened: list[int]) -> None:  # fmt: skip
    headers = {"Accept": "text/event-stream", "X-API-Key": key}
    async with session.post(url, json={"query": QUERY}, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"subscribe answered {response.status}: {await response.text()}")
        opened.append(1)
        ready.set()
        async for _line in response.content:
            pass


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


async def window(
    url: str, keys: list[str], seconds: float, interval: float, proc: Proc, mocks: dict[str, Any]
) -> dict[str, Any]:
    """Subscribe with every key in `keys` (one stream each) and measure `seconds` of polling."""
    base = url.removesuffix("/graphql")
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        opened: list[int] = []
        ready = asyncio.Event()
        tasks = [asyncio.create_task(subscriber(session, url, k, ready, opened)) for k in keys]
        deadline = time.monotonic() + 60
        while len(opened) < len(keys) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            for task in tasks:
                if task.done() and task.exception():
                    raise RuntimeError(str(task.exception()))
        await asyncio.sleep(2 * interval)  # every watch has its baseline
        mock_calls(mocks)  # forget what came before
        cpu = proc.cpu_seconds()
        began = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - began
        cpu = proc.cpu_seconds() - cpu
        calls = mock_calls(mocks)["calls"]
        row = {
            "subscribers": len(keys),
            "open": metric(base, "gateway_live_subscriptions"),
            "pollers": metric(base, "gateway_live_pollers"),
            "calls_per_interval": {
                p: round(n / (elapsed / interval), 2) for p, n in sorted(calls.items())
            },
            "rss_mib": round(proc.rss_bytes() / 2**20, 1),
            "cpu_share": round(cpu / elapsed, 3),
        }
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    providers = sorted(rows[0]["calls_per_interval"])
    head = ["window", "subscribers", "pollers", *providers, "gateway RSS MiB", "gateway CPU"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        calls = [str(row["calls_per_interval"].get(p, 0)) for p in providers]
        cells = [row["name"], str(row["subscribers"]), str(int(row["pollers"])), *calls,
                 str(row["rss_mib"]), f"{row['cpu_share'] * 100:.1f}%"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench = Bench(args, stamp)
    try:
        _mocks_proc, mocks = bench.start_mocks(large=False)
        users = mocks["users"][: args.users]
        admin = secrets.token_urlsafe(16)
        keys_json, user_keys = api_keys(users, admin)
        env = {
            "GATEWAY_ALLOW_ANONYMOUS": "false",
            "GATEWAY_API_KEYS": keys_json,
            "GATEWAY_POLL_INTERVAL": str(args.interval),
            "GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER": str(args.subscribers),
        }
        proc, url = bench.start_gateway(mocks, 1, "gateway-live", env)
        spread = [user_keys[i % len(user_keys)] for i in range(args.subscribers)]
        plan = [
            ("one subscriber", [admin]),
            (f"{args.subscribers}, same filter", [admin] * args.subscribers),
            (f"{args.subscribers}, {len(user_keys)} users' scopes", spread),
        ]
        rows = []
        for name, keys in plan:
            row = asyncio.run(window(url, keys, args.seconds, args.interval, proc, mocks))
            rows.append({"name": name, **row})
            print(f"# {name}: {json.dumps(row)}", file=sys.stderr)
    finally:
        bench.stop_all()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
