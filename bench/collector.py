"""The garbage collector's share of a request, with Python's thresholds and the gateway's.

Starts the bench mocks (10 ms latency) and, in turn for each setting, one gateway process
(`session-gateway serve` run through this file's `--serve` mode, which times every collection
by the CPU time of the thread running it). Each gateway is driven like bench/run's `gateway`
target: the per-user query at concurrency 32, then 1. Printed per setting and concurrency:
requests per second, the gateway's CPU per request, collections per request by generation, and
the CPU those collections took per request. Settings take turns for `--rounds`.
Run as `.venv/bin/python bench/collector.py [--seconds 10] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import load  # noqa: E402
import queries  # noqa: E402
from harness import ROOT, VENV, Bench  # noqa: E402
from procs import Proc, free_port, start, wait_http  # noqa: E402

SETTINGS: dict[str, tuple[int, ...] | None] = {"python": (700, 10, 10), "gateway": None}
# None: app/http/serving.py's GC_THRESHOLDS; `--also 10000,10,10` adds a setting to compare


def _serve(thresholds: str, stats: str, argv: list[str]) -> int:
    """Run `session-gateway` with `argv`, timing collections; SIGUSR1 writes them to `stats`."""
    sys.path.insert(0, str(ROOT))
    import app.http.serving
    from app.cli import main

    if thresholds != "gateway":
        app.http.serving.GC_THRESHOLDS = tuple(int(t) for t in thresholds.split(","))
    counts, spent, began = [0, 0, 0], [0, 0, 0], [0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.thread_time_ns()
        else:
            counts[info["generation"]] += 1
            spent[info["generation"]] += time.thread_time_ns() - began[0]

    def write(*_: object) -> None:
        Path(stats).write_text(json.dumps({"counts": counts, "ns": spent}))

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, write)
    return main(argv)


def _snapshot(proc: Proc, stats: Path) -> tuple[dict[str, list[int]], float]:
    """The collections so far, and the process's CPU seconds."""
    stats.unlink(missing_ok=True)
    proc.popen.send_signal(signal.SIGUSR1)
    for _ in range(100):
        if stats.exists() and stats.read_text():
            break
        time.sleep(0.05)
    found: dict[str, list[int]] = json.loads(stats.read_text())
    return found, proc.cpu_seconds()


def _measure(
    setting: str, mocks: dict[str, Any], bodies: Path, seconds: float, logs: Path
) -> dict[int, dict[str, float]]:
    port = free_port()
    stats = logs / f"stats-{setting}.json"
    env = {
        **os.environ,
        **mocks["env"],
        "GATEWAY_CURSOR_SECRET": "bench-cursor-secret",
        "GATEWAY_ALLOW_ANONYMOUS": "true",
        **Bench.UNBOUNDED,
        "PYTHONPATH": str(ROOT),
    }
    thresholds = ",".join(map(str, SETTINGS[setting])) if SETTINGS[setting] else "gateway"
    command = [
        str(VENV / "python"), str(Path(__file__).resolve()),
        "--serve", thresholds, "--stats", str(stats),
        "--", "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    proc = start(f"gateway-{setting}", command, logs, env=env, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        wait_http(proc, f"http://127.0.0.1:{port}/healthz", timeout=60)
        load.run(url, bodies, 32, 3)  # warm-up: documents, connections, kept parses
        rows: dict[int, dict[str, float]] = {}
        for concurrency in (32, 1):
            before, cpu_before = _snapshot(proc, stats)
            result = load.run(url, bodies, concurrency, seconds)
            after, cpu_after = _snapshot(proc, stats)
            n = max(result["requests"], 1)
            rows[concurrency] = {
                "rps": n / (result["duration_us"] / 1e6),
                "cpu_ms": (cpu_after - cpu_before) * 1000 / n,
                "gc_ms": sum(a - b for a, b in zip(after["ns"], before["ns"], strict=True))
                / 1e6
                / n,
                **{f"gen{g}": (after["counts"][g] - before["counts"][g]) / n for g in range(3)},
            }
        return rows
    finally:
        proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--also", action="append", default=[], help="more thresholds, a,b,c")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return _serve(args.serve, args.stats, args.rest)
    for also in args.also:
        SETTINGS[also] = tuple(int(t) for t in also.split(","))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench = Bench(argparse.Namespace(latency_ms=10.0), f"{stamp}-collector")
    logs = bench.logs
    try:
        _, mocks = bench.start_mocks(large=False)
        bodies = logs / "bodies.jsonl"
        bodies.write_text(
            "".join(json.dumps(queries.gateway_body(u)) + "\n" for u in mocks["users"])
        )
        print(
            "| thresholds | round | c | req/s | CPU ms/req | GC ms/req | gen0, gen1, gen2 per req |"
        )
        print("|---|---:|---:|---:|---:|---:|---|")
        for round_ in range(1, args.rounds + 1):
            for setting in SETTINGS:
                rows = _measure(setting, mocks, bodies, args.seconds, logs)
                for c, row in rows.items():
                    gens = ", ".join(f"{row[f'gen{g}']:.3f}" for g in range(3))
                    print(
                        f"| {setting} | {round_} | {c} | {row['rps']:.0f} | {row['cpu_ms']:.2f} "
                        f"| {row['gc_ms']:.3f} | {gens} |",
                        flush=True,
                    )
    finally:
        bench.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
