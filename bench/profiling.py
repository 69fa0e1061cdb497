"""bench/run --profile: where the gateway's CPU goes, sampled by py-spy under bench load.

Two stages, each on one gateway process: `user` (the per-user query at concurrency 32) and
`page` (full pages of 100, walked one after another). For each, py-spy's raw stacks go to
bench/results/<stamp>-profile-<stage>.txt and the functions with the most samples, on their
own (self) and with what they call (total), are printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import load
import queries
from harness import HERE, ROOT, VENV, Bench, post


def record(pid: int, seconds: float, out: Path) -> None:
    """Sample `pid` with py-spy for `seconds` (no pausing of the target) into `out`, raw."""
    command = [
        str(VENV / "py-spy"), "record", "--pid", str(pid), "--duration", str(round(seconds)),
        "--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {done.stderr.strip()[-600:]}")


def _frame(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module.py)`: lines merged, paths shortened."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


# Frames every sample goes through (event loop, server, middleware): left out of "total".
_SCAFFOLD = (
    "asyncio/", "uvicorn/", "starlette/", "app/cli.py", "session-gateway",
    "app/http/body_limit.py", "app/http/auth.py", "<module>",
)  # fmt: skip


def _module(frames: list[str]) -> str:
    """Where the innermost frame's code lives; generated code (`<string>`) goes to its caller."""
    for frame in reversed(frames):
        path = frame.rsplit(" (", 1)[1].rstrip(")")
        if not path.startswith("<"):
            return path
    return "?"


def summarise(raw: Path, top: int) -> str:
    """The `top` functions by self and by total samples, and self samples by module, as text."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";") if f]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        n = int(count)
        samples += n
        own[frames[-1]] += n
        modules[_module(frames)] += n
        for frame in set(frames):
            if not any(marker in frame for marker in _SCAFFOLD):
                total[frame] += n
    lines = [f"{samples} samples (on CPU only)", "", f"self (top {top})"]
    lines += [f"{100 * n / samples:6.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", f"self by module (top {top})"]
    lines += [f"{100 * n / samples:6.1f}%  {name}" for name, n in modules.most_common(top)]
    lines += ["", f"total, with callees, server and event loop left out (top {top * 2})"]
    lines += [f"{100 * n / samples:6.1f}%  {name}" for name, n in total.most_common(top * 2)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=float, default=15.0)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench_args = argparse.Namespace(latency_ms=args.latency_ms)
    bench = Bench(bench_args, f"{stamp}-profile")
    report: dict[str, str] = {}
    try:
        _, mocks = bench.start_mocks(large=False)
        proc, url = bench.start_gateway(mocks, 1, "gateway", Bench.UNBOUNDED)
        bodies = bench.logs / "bodies-gateway.jsonl"
        bodies.write_text(
            "".join(json.dumps(queries.gateway_body(u)) + "\n" for u in mocks["users"])
        )
        load.run(url, bodies, 32, 3)
        raw = HERE / "results" / f"{stamp}-profile-user.txt"
        sampler = threading.Thread(target=record, args=(proc.pid, args.seconds, raw))
        sampler.start()
        load.run(url, bodies, 32, args.seconds + 2)
        sampler.join()
        report["user"] = summarise(raw, args.top)
        bench.stop_all()

        _, large = bench.start_mocks(large=True)
        proc, url = bench.start_gateway(large, 1, "gateway", Bench.UNBOUNDED)
        body = {"query": queries.FULL_PAGE_QUERY, "variables": {"after": None}}
        post(url, body)
        raw = HERE / "results" / f"{stamp}-profile-page.txt"
        sampler = threading.Thread(target=record, args=(proc.pid, args.seconds, raw))
        sampler.start()
        stop_at = time.monotonic() + args.seconds + 1
        while time.monotonic() < stop_at:
            answer = post(url, body)
            connection = answer["data"]["sessions"]
            after = connection["pageInfo"]["endCursor"]
            more = connection["pageInfo"]["hasNextPage"]
            body["variables"] = {"after": after if more else None}
        sampler.join()
        report["page"] = summarise(raw, args.top)
    finally:
        bench.stop_all()
    for stage, text in report.items():
        print(f"== {stage} ==\n{text}\n")
    out = HERE / "results" / f"{stamp}-profile.md"
    out.write_text("".join(f"## {stage}\n\n```\n{text}\n```\n\n" for stage, text in report.items()))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
