"""bench/run: the gateway beside a plain parallel fetch (floor) and Mesh + Hive Gateway (peer).

Everything runs on 127.0.0.1 and stops by itself. One JSON line per target and a table go to
stdout; the whole run goes to bench/results/<timestamp>.json. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import load
import peer
import queries
import viewer
import workloads
from procs import Proc, free_port, machine_busy, read_handshake, start, wait_http, wait_quiet

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# A git worktree has no .venv of its own: use the interpreter's (PYTHONPATH=. keeps its code).
VENV = ROOT / ".venv" / "bin" if (ROOT / ".venv").exists() else Path(sys.executable).parent
PROVIDERS = 4
MB = 1024 * 1024


def post(url: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """POST JSON and decode the answer, whatever its status."""
    return json.loads(post_raw(url, body, timeout))  # type: ignore[no-any-return]


def post_raw(url: str, body: dict[str, Any], timeout: float = 30.0) -> bytes:
    """POST JSON and answer the body as it came, whatever its status."""
    headers, data = workloads.wire(body)
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw: bytes = response.read()
    except urllib.error.HTTPError as error:
        raw = error.read()
    return raw


def mock_calls(mocks: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """Calls the mocks received since the last read (and forget them); `detail`: each call."""
    query = "?detail=1" if detail else ""
    with urllib.request.urlopen(f"{mocks['control']}/calls{query}", timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


@dataclass
class Subject:
    """A target ready for load: its processes, where to send what, and its windows so far."""

    name: str
    proc: Proc
    url: str
    body_file: Path
    processes: int
    calls_per_request: float
    # What the upstreams answered it, and what it answered, per request (bytes).
    upstream_bytes_per_request: float
    response_bytes_per_request: float
    # Which upstream pages its checked requests fetched (workloads.pages_digest).
    upstream_pages: str
    windows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    failure: str | None = None  # why its load stopped early (no row then)

    def row(self) -> dict[str, Any]:
        """The subject's figures, its windows pooled: requests over time, CPU over requests,
        latency percentiles over all the requests; the figure of each window beside them."""
        row: dict[str, Any] = {"target": self.name, "processes": self.processes}
        for concurrency, windows in sorted(self.windows.items()):
            suffix = f"c{concurrency}"
            requests = sum(w["requests"] for w in windows)
            elapsed = sum(w["duration_us"] for w in windows) / 1e6
            served = sum(w["served"] for w in windows)
            cpu = sum(sum(w["cpu_s_by_pid"].values()) for w in windows)
            row |= {
                f"rps_{suffix}": round(requests / elapsed, 1),
                f"p50_{suffix}_ms": round(load.pooled(windows, 0.50) / 1000, 2),
                f"p99_{suffix}_ms": round(load.pooled(windows, 0.99) / 1000, 2),
                f"cpu_ms_per_req_{suffix}": round(cpu * 1000 / served, 3),
                f"errors_{suffix}": sum(sum(w["errors"].values()) for w in windows),
                f"windows_{suffix}": [
                    {
                        "rps": round(w["requests"] / (w["duration_us"] / 1e6), 1),
                        "p50_ms": round(w["latency_us"]["p50"] / 1000, 2),
                        "p99_ms": round(w["latency_us"]["p99"] / 1000, 2),
                        "cpu_ms_per_req": round(
                            sum(w["cpu_s_by_pid"].values()) * 1000 / w["served"], 3
                        ),
                    }
                    for w in windows
                ],
            }
            if concurrency == 32:
                mocks_cpu = sum(w["mocks_cpu_s"] for w in windows)
                driver_cpu = sum(w["driver_cpu_s"] for w in windows)
                busy = sum(w["busy"] * w["duration_us"] for w in windows) / (elapsed * 1e6)
                # Cores busy with anything but the target, the mocks and the driver: other
                # work on the machine, which makes the figures of these windows unreliable.
                ours = (cpu + mocks_cpu + driver_cpu) / elapsed
                other = max(busy * (os.cpu_count() or 1) - ours, 0.0)
                by_pid: dict[int, float] = {}
                for w in windows:
                    for pid, seconds in w["cpu_s_by_pid"].items():
                        by_pid[pid] = by_pid.get(pid, 0.0) + seconds
                row |= {
                    "mocks_cpu_ms_per_req_c32": round(mocks_cpu * 1000 / served, 3),
                    "driver_cpu_ms_per_req_c32": round(driver_cpu * 1000 / served, 3),
                    "machine_busy_c32": round(busy, 3),
                    "other_cores_c32": round(other, 2),
                    # Where the target's CPU went, process by process (workers: the balance).
                    "cpu_s_by_process_c32": [round(v, 2) for v in by_pid.values() if v >= 0.01],
                }
        row["upstream_calls_per_req"] = round(self.calls_per_request, 2)
        row["upstream_bytes_per_req"] = round(self.upstream_bytes_per_request)
        row["response_bytes_per_req"] = round(self.response_bytes_per_request)
        row["upstream_pages"] = self.upstream_pages
        row["rss_mb"] = round(self.proc.rss_bytes() / MB, 1)
        # The high-water mark of the whole run, the c=256 window included.
        row["rss_peak_mb"] = round(self.proc.peak_rss_bytes() / MB, 1)
        return row


class Bench:
    """One run: its settings, its log folder and the processes it has started."""

    def __init__(self, args: argparse.Namespace, stamp: str) -> None:
        self.args = args
        self.stamp = stamp
        self.logs = HERE / "results" / f"{stamp}-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started: list[Proc] = []

    def start_mocks(self, *, large: bool) -> tuple[Proc, dict[str, Any]]:
        command = [
            str(VENV / "python"), str(HERE / "mocks_server.py"),
            "--latency-ms", str(self.args.latency_ms), "--max-seconds", "1200",
        ]  # fmt: skip
        if large:
            command.append("--large")
        name = "mocks-large" if large else "mocks"
        proc = start(name, command, self.logs, stdout_pipe=True, cwd=ROOT)
        self.started.append(proc)
        return proc, read_handshake(proc, timeout=120)

    # One anonymous caller drives the throughput runs: they measure throughput, not shedding
    # (the peer admits everything too). bench/overload.py measures admission with the defaults.
    UNBOUNDED: ClassVar[dict[str, str]] = {
        "GATEWAY_MAX_IN_FLIGHT": "1000",
        "GATEWAY_MAX_IN_FLIGHT_PER_CALLER": "1000",
    }

    def start_gateway(
        self,
        mocks: dict[str, Any],
        workers: int,
        name: str,
        extra_env: dict[str, str] | None = None,
        program: list[str] | None = None,
    ) -> tuple[Proc, str]:
        """A gateway on `mocks`; `extra_env` adds to or overrides the GATEWAY_* set here, and
        `program` runs in place of `session-gateway` (taking its arguments)."""
        port = free_port()
        env = mocks["env"] | {
            "GATEWAY_CURSOR_SECRET": "bench-cursor-secret",
            # The peer has no caller authentication either.
            "GATEWAY_ALLOW_ANONYMOUS": "true",
        }
        env |= extra_env or {}
        command = [
            *(program or [str(VENV / "session-gateway")]), "serve", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        if workers > 1:
            command += ["--workers", str(workers)]
        proc = start(name, command, self.logs, env=env, cwd=ROOT)
        self.started.append(proc)
        wait_http(proc, f"http://127.0.0.1:{port}/healthz", timeout=60)
        return proc, f"http://127.0.0.1:{port}/graphql"

    def start_floor(self, mocks: dict[str, Any]) -> tuple[Proc, str]:
        port = free_port()
        env = mocks["env"] | peer.environment(mocks)
        command = [str(VENV / "python"), str(HERE / "floor.py"), "--port", str(port)]
        proc = start("floor", command, self.logs, env=env, cwd=ROOT)
        self.started.append(proc)
        wait_http(proc, f"http://127.0.0.1:{port}/healthz", timeout=30)
        return proc, f"http://127.0.0.1:{port}/"

    def start_peer(self, mocks: dict[str, Any]) -> tuple[Proc, str]:
        how = peer.install()
        print(f"# peer: {how}; composing", file=sys.stderr, flush=True)
        peer.compose(mocks)
        port = free_port()
        proc = peer.serve(mocks, port, self.logs)
        self.started.append(proc)
        return proc, f"http://127.0.0.1:{port}/graphql"

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self, keep: Proc | None = None, also: list[Proc] | None = None) -> None:
        """Stop every process started but `keep` and those in `also`."""
        kept = [keep, *(also or [])]
        for proc in reversed(self.started):
            if proc not in kept:
                proc.stop()
        self.started = [proc for proc in self.started if proc in kept]

    # --- one workload under load -------------------------------------------------------

    def prepare(
        self,
        target: str,
        proc: Proc,
        url: str,
        mocks: dict[str, Any],
        bodies: list[dict[str, Any]],
        processes: int,
    ) -> Subject:
        """Check `target`'s answers, count its upstream calls and bytes exactly, warm it up."""
        body_file = self.logs / f"bodies-{target}.jsonl"
        body_file.write_text("".join(workloads.line(b) + "\n" for b in bodies))
        kind = "floor" if target == "floor" else ("peer" if target == "peer" else "gateway")
        per_user = self.args.workload in workloads.PER_USER and kind != "floor"
        mock_calls(mocks)
        seen: dict[str, int] = {}
        checks = min(max(len(bodies), 3), 20)
        answered = 0
        for index in range(checks):
            raw = post_raw(url, bodies[index % len(bodies)])
            answered += len(raw)
            answer = json.loads(raw)
            if kind == "floor":
                calls = bodies[index % len(bodies)]["calls"]
                if not isinstance(answer, list) or len(answer) != len(calls):
                    raise RuntimeError(f"floor answered {raw[:300]!r} for {len(calls)} calls")
            elif per_user:
                for provider, n in queries.sessions_in(kind, answer).items():
                    seen[provider] = seen.get(provider, 0) + n
            elif answer.get("errors") or not answer.get("data"):
                raise RuntimeError(f"{target} answered errors: {raw[:500]!r}")
        # The per-user query names a user of each provider but Kratos (issue 5's four).
        wanted = sorted(set(mocks["urls"]) - {"KRATOS"})
        if per_user and sorted(p for p, n in seen.items() if n) != wanted:
            raise RuntimeError(f"{target} answers lack providers: sessions seen {seen}")
        counted = mock_calls(mocks, detail=True)
        load.run(url, body_file, 32, self.args.warmup)
        proc.settle()
        mock_calls(mocks)  # forget the warm-up's calls
        calls = sum(counted["calls"].values()) / checks
        upstream = sum(counted["bytes"].values()) / checks
        pages = workloads.pages_digest(counted["every"])
        return Subject(
            target, proc, url, body_file, processes, calls, upstream, answered / checks, pages
        )

    def record(
        self, mocks: dict[str, Any], bodies: list[dict[str, Any]], env: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The floor's bodies: the upstream calls a gateway makes for each of `bodies`, as the
        mocks record them (a gateway of its own, stopped afterwards)."""
        proc, url = self.start_gateway(mocks, 1, "gateway-record", env)
        try:
            post_raw(url, bodies[0])  # the first request of a document is not counted
            mock_calls(mocks)
            recorded = []
            for body in bodies:
                answer = json.loads(post_raw(url, body))
                if answer.get("errors"):
                    raise RuntimeError(f"gateway answered errors: {json.dumps(answer)[:500]}")
                recorded.append({"calls": mock_calls(mocks, detail=True)["every"]})
            return recorded
        finally:
            self.stop(proc)

    def window(
        self, subject: Subject, mocks_proc: Proc, concurrency: int, seconds: float
    ) -> dict[str, Any]:
        """One stretch of load on `subject`, and what it cost the target, the mocks, the
        driver and the rest of the machine."""
        proc = subject.proc
        cpu_before, mocks_before = proc.cpu_by_process(), mocks_proc.cpu_seconds()
        busy_before = machine_busy()
        driver_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures = load.run(subject.url, subject.body_file, concurrency, seconds)
        driver_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_after = machine_busy()
        # The requests the driver left in flight are still served: wait for them, and count
        # them, so that CPU per request holds all the work of the window.
        proc.settle()
        cpu_after = proc.cpu_by_process()
        driver = (driver_after.ru_utime + driver_after.ru_stime) - (
            driver_before.ru_utime + driver_before.ru_stime
        )
        return figures | {
            "served": figures["requests"] + concurrency,
            "cpu_s_by_pid": {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after},
            "mocks_cpu_s": mocks_proc.cpu_seconds() - mocks_before,
            "driver_cpu_s": driver,
            "busy": (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1),
        }

    def interleave(self, subjects: list[Subject], mocks_proc: Proc, mocks: dict[str, Any]) -> None:
        """Load the subjects in turns: `--rounds` windows each at concurrency 1, then at 32,
        the order rotating every round. Slow drifts of a shared machine then weigh on every
        subject alike, where one long stretch per subject, minutes apart, put them all on one."""
        stretches = [
            (1, self.args.c1_seconds, self.args.rounds),
            (32, self.args.c32_seconds, self.args.rounds),
        ]
        if self.args.c256_seconds > 0:  # one window each: the peak memory under many clients
            stretches.append((256, self.args.c256_seconds, 1))
        for concurrency, total, rounds in stretches:
            seconds = window_seconds(total, rounds)
            for turn in range(rounds):
                shift = turn % len(subjects)
                for subject in subjects[shift:] + subjects[:shift]:
                    if subject.failure is not None:
                        continue
                    try:
                        window = self.window(subject, mocks_proc, concurrency, seconds)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        subject.failure = f"{type(exc).__name__}: {exc}"  # the others go on
                        continue
                    mock_calls(mocks)  # forget the load's calls
                    # A target that died, or answered nothing, has no figures to judge.
                    if not subject.proc.alive():
                        subject.failure = f"{subject.name} exited:\n{subject.proc.tail()}"
                    elif window["requests"] == 0:
                        subject.failure = f"{subject.name} answered nothing in a window"
                    else:
                        subject.windows.setdefault(concurrency, []).append(window)

    # --- large pages and the long walk -----------------------------------------------

    def walk(self, url: str, proc: Proc, mocks: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"query": queries.FULL_PAGE_QUERY, "variables": {"after": None}}
        sent = time.perf_counter()
        first = post(url, body)  # warms caches; its time is reported apart
        first_ms = (time.perf_counter() - sent) * 1000
        if first.get("errors"):
            raise RuntimeError(f"full page query failed: {json.dumps(first['errors'])[:600]}")
        mock_calls(mocks)
        rss_start = proc.rss_bytes()
        times: list[float] = []
        calls: list[int] = []
        paths: dict[str, int] = {}
        rss_half = rss_start
        walked = 0
        after: str | None = None
        deadline = time.monotonic() + self.args.walk_seconds
        while walked < self.args.walk_sessions and time.monotonic() < deadline:
            body["variables"] = {"after": after}
            sent = time.perf_counter()
            answer = post(url, body)
            times.append(time.perf_counter() - sent)
            if answer.get("errors"):
                raise RuntimeError(f"walk failed: {json.dumps(answer['errors'])[:600]}")
            counted = mock_calls(mocks)
            calls.append(sum(counted["calls"].values()))
            for path, n in counted["paths"].items():
                paths[path] = paths.get(path, 0) + n
            connection = answer["data"]["sessions"]
            walked += len(connection["edges"])
            if len(times) == 50:
                rss_half = proc.rss_bytes()
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        rss_end = proc.rss_bytes()
        ordered = sorted(times)
        return {
            "target": "gateway-walk",
            "processes": 1,
            "sessions_available": mocks["sessions_visible"],
            "sessions_walked": walked,
            "pages": len(times),
            "first_page_ms": round(first_ms, 1),
            "page100_p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            "page100_p99_ms": round(
                ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1
            ),
            "page100_max_ms": round(ordered[-1] * 1000, 1),
            "calls_per_page_mean": round(sum(calls) / len(calls), 2),
            "calls_per_page_max": max(calls),
            "calls_per_page_by_path": {
                path: round(n / len(calls), 2) for path, n in sorted(paths.items())
            },
            "rss_start_mb": round(rss_start / MB, 1),
            "rss_end_mb": round(rss_end / MB, 1),
            "rss_growth_mb": round((rss_end - rss_start) / MB, 1),
            "rss_growth_second_half_mb": round((rss_end - rss_half) / MB, 1),
        }


def window_seconds(total: float, rounds: int) -> float:
    """How long each of `rounds` windows lasts for about `total` seconds (whole seconds: wrk)."""
    return max(1.0, float(round(total / rounds)))


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "not found"
        # `wrk -v` prints its version and exits 1: take the first line whatever the status.
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else ""

    python = subprocess.run(
        [str(VENV / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    git = ["git", "-C", str(ROOT)]
    head = version([*git, "rev-parse", "--short", "HEAD"])
    try:
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "app", "resolvers", "pyproject.toml"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        dirty = ""
    return {
        "gateway_commit": head + (" + uncommitted changes" if dirty else ""),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": python,
        "node": version(["node", "--version"]) if shutil.which("node") else "not found",
        "driver": load.driver(),
        "wrk": version(["wrk", "-v"]).split(" [")[0] if shutil.which("wrk") else "not found",
    }


def work_line(name: str, row: dict[str, Any]) -> str:
    """A target's work per request: upstream calls, upstream bytes, answer bytes."""
    return (
        f"{name}: {row['upstream_calls_per_req']:g} upstream calls, "
        f"{row['upstream_bytes_per_req']:,} B from the upstreams, "
        f"{row['response_bytes_per_req']:,} B answered per request"
    )


def same_work(gateway: dict[str, Any], peer_row: dict[str, Any]) -> bool:
    """Whether gateway and peer made the same upstream calls and fetched the same bytes (within
    5 %), from the same pages."""
    return workloads.same_work(
        (gateway["upstream_calls_per_req"], peer_row["upstream_calls_per_req"]),
        (gateway["upstream_bytes_per_req"], peer_row["upstream_bytes_per_req"]),
    ) and gateway.get("upstream_pages") == peer_row.get("upstream_pages")


def targets(rows: dict[str, dict[str, Any]], per_user: bool = True) -> list[dict[str, Any]]:
    """The targets, each a ratio of figures from this run; for those comparing windows that
    took turns, the same ratio round by round as well. No ratio to the peer unless both did
    the same work (upstream calls and bytes within 5 %, the same pages)."""
    gateway, floor, peer_row = rows.get("gateway"), rows.get("floor"), rows.get("peer")
    walk = rows.get("gateway-walk")
    checks: list[dict[str, Any]] = []

    def check(
        name: str,
        value: float | None,
        limit: float,
        ok: Callable[[float], bool],
        by_round: list[float] | None = None,
        note: str | None = None,
    ) -> None:
        checks.append(
            {
                "target": name,
                "value": None if value is None else round(value, 3),
                "limit": limit,
                "met": None if value is None else ok(value),
            }
            | ({"by_round": [round(v, 3) for v in by_round]} if by_round else {})
            | ({"note": note} if note else {})
        )

    def rounds(
        a: dict[str, Any], b: dict[str, Any], key: str, concurrency: int, how: str
    ) -> list[float]:
        """`a`'s and `b`'s window figure `key`, round by round: their ratio or difference."""
        mine, theirs = a.get(f"windows_c{concurrency}", []), b.get(f"windows_c{concurrency}", [])
        pairs = zip(mine, theirs, strict=True)  # a subject that stops early has no row
        if how == "ratio":
            return [x[key] / y[key] for x, y in pairs if y[key]]
        return [x[key] - y[key] for x, y in pairs]

    def failed(row: dict[str, Any]) -> int:
        return sum(v for k, v in row.items() if k.startswith("errors_c"))

    def clean(row: dict[str, Any] | None) -> bool:
        """Whether `row` can be judged: measured, and no request of it failed."""
        return row is not None and not failed(row)

    if gateway:
        check("refused or failed gateway requests == 0", failed(gateway), 0, lambda v: v == 0)
    p50_name = "p50 c=1 minus floor p50 (ms) <= 1.5"
    if gateway and floor and clean(gateway) and clean(floor):
        gap = gateway["p50_c1_ms"] - floor["p50_c1_ms"]
        gaps = rounds(gateway, floor, "p50_ms", 1, "difference")
        check(p50_name, gap, 1.5, lambda v: v <= 1.5, gaps)
    else:
        check(p50_name, None, 0, lambda v: False)
    peer_names = (
        "rps c=32, one process / peer >= 2",
        "CPU per request / peer <= 0.5",
        "p99 c=32 / peer p99 <= 0.5",
        "peak RSS (c=256 included) / peer <= 1",
    )
    if gateway and peer_row and not same_work(gateway, peer_row):
        refused = (
            "refused: the peer's upstream calls or bytes differ by more than 5 %, or its pages"
        )
        for name in peer_names:
            check(name, None, 0, lambda v: False, note=refused)
    elif gateway and peer_row and clean(gateway) and clean(peer_row):
        ratio = gateway["rps_c32"] / peer_row["rps_c32"]
        ratios = rounds(gateway, peer_row, "rps", 32, "ratio")
        check(peer_names[0], ratio, 2, lambda v: v >= 2, ratios)
        cpu = gateway["cpu_ms_per_req_c32"] / peer_row["cpu_ms_per_req_c32"]
        cpus = rounds(gateway, peer_row, "cpu_ms_per_req", 32, "ratio")
        check(peer_names[1], cpu, 0.5, lambda v: v <= 0.5, cpus)
        p99 = gateway["p99_c32_ms"] / peer_row["p99_c32_ms"]
        p99s = rounds(gateway, peer_row, "p99_ms", 32, "ratio")
        check(peer_names[2], p99, 0.5, lambda v: v <= 0.5, p99s)
        rss = gateway["rss_peak_mb"] / peer_row["rss_peak_mb"]
        check(peer_names[3], rss, 1, lambda v: v <= 1)
    else:
        for name in peer_names:
            check(name, None, 0, lambda v: False)
    if gateway and per_user:
        calls = gateway["upstream_calls_per_req"]
        check(
            "upstream calls per user query == providers", calls, PROVIDERS, lambda v: v == PROVIDERS
        )
    if walk:
        check(
            "upstream calls per full page of 100 <= 2 x providers",
            walk["calls_per_page_max"],
            2 * PROVIDERS,
            lambda v: v <= 2 * PROVIDERS,
        )
        check("RSS growth over the walk (MB) < 20", walk["rss_growth_mb"], 20, lambda v: v < 20)
    return checks


def table(rows: list[dict[str, Any]]) -> str:
    """The loaded rows as a small fixed-width table."""
    columns = [
        ("target", "target", "{}"),
        ("rps_c32", "rps@32", "{:.0f}"),
        ("p50_c1_ms", "p50@1 ms", "{:.1f}"),
        ("p99_c1_ms", "p99@1 ms", "{:.1f}"),
        ("p50_c32_ms", "p50@32 ms", "{:.1f}"),
        ("p99_c32_ms", "p99@32 ms", "{:.1f}"),
        ("cpu_ms_per_req_c32", "CPU ms/req", "{:.2f}"),
        ("rss_peak_mb", "peak MB", "{:.0f}"),
        ("upstream_calls_per_req", "calls/req", "{:.2f}"),
        ("upstream_bytes_per_req", "up B/req", "{:,}"),
        ("response_bytes_per_req", "resp B/req", "{:,}"),
        ("machine_busy_c32", "busy@32", "{:.0%}"),
        ("other_cores_c32", "others@32", "{:.2f}"),
    ]
    lines = [" ".join(f"{title:>11}" for _, title, _ in columns)]
    for row in rows:
        if "rps_c32" not in row:
            continue
        cells = [fmt.format(row[key]) if key in row else "-" for key, _, fmt in columns]
        lines.append(" ".join(f"{cell:>11}" for cell in cells))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench = Bench(args, stamp)
    rows: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    began = time.monotonic()
    try:
        mocks_proc, mocks = bench.start_mocks(large=False)
        workload = workloads.BY_NAME[args.workload]
        if workload.needs_viewer:
            viewer.prepare(mocks, bench.logs)
        asked = workload.gateway(mocks)
        # The issue measures the default settings; --unbounded lifts the admission limits.
        unbounded = (Bench.UNBOUNDED if args.unbounded else {}) | workloads.env(workload, mocks)
        plans: list[tuple[str, Callable[[], tuple[Proc, str]], list[dict[str, Any]], int]] = [
            ("gateway", lambda: bench.start_gateway(mocks, 1, "gateway", unbounded), asked, 1),
            ("gateway-w2", lambda: bench.start_gateway(mocks, 2, "gateway-w2", unbounded),
             asked, 2),
            # The same workload with the response cache on (5 s): the per-user workloads cycle
            # through 28 users, so most requests are hits once each user's answer is stored.
            ("gateway-cache5",
             lambda: bench.start_gateway(mocks, 1, "gateway-cache5",
                                         unbounded | {"GATEWAY_RESPONSE_CACHE_TTL": "5"}),
             asked, 1),
        ]  # fmt: skip
        if args.only and "gateway-bypass" in args.only and args.workload not in workloads.PER_USER:
            missing["gateway-bypass"] = "the bypass knows the per-user documents only"
        elif args.only and "gateway-bypass" in args.only:
            # The engine taken out of the per-user documents (bench/engine_bypass.py): an
            # experiment, measured only when --only names it.
            bypass = [str(VENV / "python"), str(HERE / "engine_bypass.py")]
            plans.insert(
                1,
                (
                    "gateway-bypass",
                    lambda: bench.start_gateway(mocks, 1, "gateway-bypass", unbounded, bypass),
                    asked,
                    1,
                ),
            )
        if not args.only or "floor" in args.only:
            # The floor makes, in parallel, the calls the gateway made for each body.
            floor_bodies = bench.record(mocks, asked, unbounded)
            plans.insert(0, ("floor", lambda: bench.start_floor(mocks), floor_bodies, 1))
        if workload.peer is not None:
            plans.append(("peer", lambda: bench.start_peer(mocks), workload.peer(mocks), 1))
        elif not args.only or "peer" in args.only:
            missing["peer"] = workload.no_peer
        # The targets the issue compares are loaded in turns (Bench.interleave); the other
        # gateway settings are measured afterwards, one at a time, in the same way.
        compared = ("floor", "gateway", "gateway-bypass", "peer")
        groups = [[plan for plan in plans if plan[0] in compared]]
        groups += [[plan] for plan in plans if plan[0] not in compared]
        for group in groups:
            group = [plan for plan in group if not args.only or plan[0] in args.only]
            if not group:
                continue
            busy = wait_quiet(args.quiet_wait)
            if busy >= 0.25:
                names = ", ".join(plan[0] for plan in group)
                print(f"# machine busy ({busy:.2f} cores) before {names}", file=sys.stderr)
            subjects: list[Subject] = []
            for target, starter, bodies, processes in group:
                print(f"# {target}: starting", file=sys.stderr, flush=True)
                try:
                    proc, url = starter()
                    subjects.append(bench.prepare(target, proc, url, mocks, bodies, processes))
                except (peer.PeerUnavailable, RuntimeError, OSError, ValueError, KeyError) as exc:
                    missing[target] = f"{type(exc).__name__}: {exc}"
                    print(f"# {target}: no row: {missing[target]}", file=sys.stderr, flush=True)
                    bench.stop_all(keep=mocks_proc, also=[s.proc for s in subjects])
            if subjects:
                bench.interleave(subjects, mocks_proc, mocks)
            for subject in subjects:
                if subject.failure is not None:
                    missing[subject.name] = subject.failure
                    print(f"# {subject.name}: no row: {subject.failure}", file=sys.stderr)
                else:
                    rows[subject.name] = subject.row()
                    print(json.dumps(rows[subject.name]), flush=True)
                bench.stop(subject.proc)
        bench.stop_all()

        if not args.only or "gateway-walk" in args.only:
            print("# gateway-walk: starting", file=sys.stderr, flush=True)
            try:
                _large_proc, large = bench.start_mocks(large=True)
                proc, url = bench.start_gateway(large, 1, "gateway-walk", Bench.UNBOUNDED)
                rows["gateway-walk"] = bench.walk(url, proc, large)
                print(json.dumps(rows["gateway-walk"]), flush=True)
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                missing["gateway-walk"] = f"{type(exc).__name__}: {exc}"
                print(f"# gateway-walk: no row: {missing['gateway-walk']}", file=sys.stderr)
            bench.stop_all()
    finally:
        bench.stop_all()

    checks = targets(rows, per_user=args.workload in workloads.PER_USER)
    print(f"\nworkload {args.workload}: {workloads.BY_NAME[args.workload].title}")
    for name in ("gateway", "peer"):
        if name in rows and "upstream_calls_per_req" in rows[name]:
            print(work_line(name, rows[name]))
    if "gateway" in rows and "peer" in rows:
        if same_work(rows["gateway"], rows["peer"]):
            print("same work: calls and upstream bytes within 5 %, the same upstream pages")
        else:
            print("NOT THE SAME WORK: no ratio to the peer is reported")
    print()
    print(table(list(rows.values())))
    walk = rows.get("gateway-walk")
    if walk:
        print(
            f"\nfull page of 100: p50 {walk['page100_p50_ms']} ms, "
            f"p99 {walk['page100_p99_ms']} ms, "
            f"calls/page mean {walk['calls_per_page_mean']} max {walk['calls_per_page_max']}; "
            f"walk of {walk['sessions_walked']} sessions: RSS {walk['rss_start_mb']} -> "
            f"{walk['rss_end_mb']} MB ({walk['rss_growth_mb']:+} MB)"
        )
    print()
    for check in checks:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[check["met"]]
        rounds = check.get("by_round")
        each = f"  (round by round: {', '.join(f'{v:g}' for v in rounds)})" if rounds else ""
        if check.get("note"):
            each = f"  ({check['note']})"
        elif check["met"] is None and rounds is None:
            each = "  (a row is missing or had errors)"
        print(f"{verdict:>12}  {check['target']}: {check['value']}{each}")
    noisy = [r["target"] for r in rows.values() if r.get("other_cores_c32", 0) > 0.2]
    if noisy:
        print(f"\nWARNING: other processes kept the machine busy while measuring {noisy}")
    for target, reason in missing.items():
        print(f"\nno {target} row: {reason}")
    result = {
        "stamp": stamp,
        "command": " ".join(["bench/run", *sys.argv[1:]]),
        "seconds": round(time.monotonic() - began, 1),
        "machine": machine(),
        "settings": {
            "workload": args.workload,
            "latency_ms": args.latency_ms,
            "warmup_s": args.warmup,
            "c1_s": args.c1_seconds,
            "c32_s": args.c32_seconds,
            "c256_s": args.c256_seconds,
            "admission": "unbounded" if args.unbounded else "defaults",
            "rounds": args.rounds,
            # What a window lasted (wrk takes whole seconds): the totals are rounds times these.
            "c1_window_s": window_seconds(args.c1_seconds, args.rounds),
            "c32_window_s": window_seconds(args.c32_seconds, args.rounds),
            "walk_sessions": args.walk_sessions,
        },
        "rows": list(rows.values()),
        "targets": checks,
        "missing": missing,
    }
    out = HERE / "results" / f"{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)} ({result['seconds']} s)")
    return 0 if rows else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=10.0, help="mock upstream latency")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at c=32, not counted")
    parser.add_argument("--c1-seconds", type=float, default=10.0)
    parser.add_argument("--c32-seconds", type=float, default=15.0)
    parser.add_argument(
        "--c256-seconds", type=float, default=4.0, help="one window at c=256 (0: none)"
    )
    parser.add_argument(
        "--unbounded",
        action="store_true",
        help="lift the gateway's admission limits (the default: its default settings)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="windows per target and concurrency; floor, gateway and peer take turns",
    )
    loaded = [w.name for w in workloads.WORKLOADS if w.kind == "query"]
    parser.add_argument(
        "--workload",
        default="user-50",
        choices=loaded,
        help="what floor, gateway and peer are loaded with (bench/workloads.py; the SSE "
        "subscribers: bench/live_fanout.py)",
    )
    parser.add_argument("--walk-sessions", type=int, default=10_000)
    parser.add_argument("--walk-seconds", type=float, default=180.0, help="walk time limit")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait, before each target, for other work on the machine to stop",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        help="floor gateway gateway-w2 gateway-cache5 peer gateway-walk (default: all); and "
        "gateway-bypass, the per-user workloads without the GraphQL engine (an experiment)",
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
