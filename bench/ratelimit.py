"""What a rate-limit check costs per request: app/state/ratelimit.py against redis-server on
loopback (and in memory), one caller, sequential, so each figure is one request's added latency.

    PYTHONPATH=. .venv/bin/python bench/ratelimit.py [--checks 2000]

Starts its own redis-server (no persistence) on a free port and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable

import redis
from procs import free_port

from app.auth.principal import Principal
from app.state.ratelimit import RateLimiter, parse_limit
from app.state.shared import Shared


async def _time(checks: int, step: Callable[[int], Awaitable[None]]) -> dict[str, float]:
    for i in range(100):  # warm-up: connections, script loading
        await step(i)
    samples = []
    for i in range(checks):
        started = time.perf_counter()
        await step(i)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "mean_us": round(statistics.fmean(samples), 1),
        "p50_us": round(samples[len(samples) // 2], 1),
        "p99_us": round(samples[int(len(samples) * 0.99)], 1),
    }


async def _measure(url: str | None, checks: int) -> dict[str, dict[str, float]]:
    shared = Shared(url)
    requests = parse_limit("1000000/minute", "bench")
    budget = parse_limit("1000000000/minute", "bench")
    only_requests = RateLimiter(shared, requests, None)
    with_budget = RateLimiter(shared, requests, budget)
    caller = Principal("bench")

    async def admit(i: int) -> None:
        assert await only_requests.admit(caller, "principal:bench") is None

    async def admit_and_charge(i: int) -> None:
        assert await with_budget.admit(caller, "principal:bench2") is None
        await with_budget.charge("principal:bench2", 120)

    try:
        return {
            "requests": await _time(checks, admit),
            "requests+cost": await _time(checks, admit_and_charge),
        }
    finally:
        await shared.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args()
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        for name, url in (("memory", None), ("redis", f"redis://127.0.0.1:{port}/0")):
            for kind, figures in asyncio.run(_measure(url, args.checks)).items():
                print(f"{name:>6} {kind:<14} " + " ".join(f"{k} {v}" for k, v in figures.items()))
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
