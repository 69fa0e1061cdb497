"""The closed-loop load driver: wrk (Debian's) when installed, else a Python asyncio driver.

Both take a file of JSON request bodies (one a line, cycled so the user changes on every
request), keep `concurrency` requests in flight for `seconds` and answer the same figures.
Run as a script it is the Python driver: `python bench/load.py URL BODIES -c 32 -d 10`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def driver() -> str:
    """Which driver `run` uses: `wrk` if it is on PATH, else `python`."""
    return "wrk" if shutil.which("wrk") else "python"


def run(url: str, bodies: Path, concurrency: int, seconds: float) -> dict[str, Any]:
    """Drive `url` and answer requests, duration, errors and latency percentiles (µs)."""
    if driver() == "wrk":
        command = [
            "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(HERE / "wrk.lua"), url, "--", str(bodies),
        ]  # fmt: skip
    else:
        command = [
            sys.executable, str(HERE / "load.py"), url, str(bodies),
            "-c", str(concurrency), "-d", str(seconds),
        ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"load driver failed: {done.stderr.strip() or done.stdout.strip()}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def percentile(ordered: list[float], share: float) -> float:
    """The value at `share` (0..1) of an ascending list; 0 for an empty one."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def grid(ordered: list[float]) -> list[int]:
    """The value at the middle of each thousandth of an ascending list (what bench/wrk.lua
    prints), so that several windows can be pooled into one distribution."""
    return [int(percentile(ordered, (i + 0.5) / 1000)) for i in range(1000)] if ordered else []


def pooled(windows: list[dict[str, Any]], share: float) -> float:
    """The latency (µs) at `share` of the requests of several windows together, each window's
    grid weighted by its number of requests."""
    points = sorted(
        (value, window["requests"] / len(window["latency_us"]["grid"]))
        for window in windows
        if window["latency_us"].get("grid")
        for value in window["latency_us"]["grid"]
    )
    total = sum(weight for _, weight in points)
    seen = 0.0
    for value, weight in points:
        # Each grid value stands for the requests around it: it is reached at its middle.
        if seen + weight / 2 >= share * total:
            return float(value)
        seen += weight
    return float(points[-1][0]) if points else 0.0


def _request(line: str) -> tuple[dict[str, str], bytes]:
    """A body file's line: JSON, or `AUTHORIZATION<TAB>JSON`."""
    headers = {"Content-Type": "application/json"}
    auth, tab, body = line.partition("\t")
    if tab:
        return headers | {"Authorization": auth}, body.encode()
    return headers, line.encode()


async def _drive(
    url: str, bodies: list[tuple[dict[str, str], bytes]], concurrency: int, seconds: float
) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    received = 0
    start = time.perf_counter()
    stop_at = start + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal received
        position = index * 7
        while time.perf_counter() < stop_at:
            position = (position + 1) % len(bodies)
            sent = time.perf_counter()
            try:
                headers, data = bodies[position]
                async with session.post(url, data=data, headers=headers) as response:
                    body = await response.read()
                    received += len(body)
                    if response.status >= 400:
                        errors["status"] += 1
            except TimeoutError:
                errors["timeout"] += 1
                continue
            except aiohttp.ClientError:
                errors["read"] += 1
                continue
            latencies.append(time.perf_counter() - sent)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(i, session) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    micros = [value * 1e6 for value in ordered]
    return {
        "requests": len(latencies) + sum(errors.values()),
        "duration_us": int(elapsed * 1e6),
        "bytes": received,
        "errors": errors,
        "latency_us": {
            "p50": int(percentile(micros, 0.50)),
            "p90": int(percentile(micros, 0.90)),
            "p99": int(percentile(micros, 0.99)),
            "max": int(micros[-1]) if micros else 0,
            "mean": sum(micros) / len(micros) if micros else 0.0,
            "grid": grid(micros),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="closed-loop POST load, Python driver")
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    args = parser.parse_args()
    bodies = [_request(line) for line in args.bodies.read_text().splitlines() if line]
    result = asyncio.run(_drive(args.url, bodies, args.concurrency, args.duration))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
