"""An organisation-wide watch at scale: event delay, upstream calls per interval, RSS per session.

Runs the mock upstreams in this process (so it can create and end sessions in them) with
--sessions sessions at each paged upstream (PrivX, Prefactor, ZITADEL, Kratos; hyper.id lists
one user's own sessions and keeps its usual few), optionally --big PROVIDER=COUNT at one, and
one gateway process with GATEWAY_POLL_INTERVAL=--interval. One SSE subscriber watches every
session. Measured:

- gateway RSS before the subscription and once the watch has swept every listing once, per
  watched session (every session the mocks hold at the watched providers);
- the first sweep's time, in intervals;
- --trials times: one session created and one old live session ended (through the upstream's
  own API) at each paged upstream; seconds until CREATED and ENDED arrive, in intervals;
- upstream calls per provider per interval, counted at the mocks over the trials, and the most
  one poll of one provider made (the gateway's gateway_live_poll_calls histogram).

A markdown table goes to stdout. See docs/performance.md, "Live at organisation scale".

    PYTHONPATH=$PWD .venv/bin/python bench/live_org.py [--sessions 20000] [--interval 2]
        [--trials 5] [--big ZITADEL=100000] [--sweep PREFACTOR=45]

--sweep sets GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER for the gateway (5 pages otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import aiohttp
from harness import Bench

from app.core import ids
from app.core.records import Provider
from app.mocks import MockData, MockUpstreams, generate
from app.mocks.churn import begin

PAGED = ("PRIVX", "PREFACTOR", "ZITADEL", "KRATOS")
PROVIDERS = (*PAGED, "HYPERID")
QUERY = "subscription Org { sessionEvents { kind sessionId reason } }"
SIZES = {
    "PRIVX": "privx_sessions",
    "PREFACTOR": "prefactor_sessions",
    "ZITADEL": "zitadel_sessions",
    "KRATOS": "kratos_sessions",
}


def metrics(base: str) -> list[str]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        return [line for line in response.read().decode().splitlines() if line.startswith("gat")]


def value(lines: list[str], head: str) -> float:
    for line in lines:
        if line.startswith(head + " "):
            return float(line.split()[1])
    return 0.0


def most_calls(lines: list[str], provider: str) -> str:
    """The smallest bucket of gateway_live_poll_calls that holds every poll of `provider`."""
    count = value(lines, f'gateway_live_poll_calls_count{{provider="{provider}"}}')
    for line in lines:
        bucket = line.startswith("gateway_live_poll_calls_bucket{") and f'"{provider}"' in line
        if bucket and float(line.split()[1]) >= count:
            return "≤ " + line.split('le="')[1].split('"')[0].removesuffix(".0")
    return "?"


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def live(provider: str, session: dict[str, Any], now: datetime) -> bool:
    """Whether the gateway shows `session` as ACTIVE (and ending it ends only it)."""
    if provider == "PRIVX":
        return not session["logged_out"] and _time(session["expires"]) > now
    if provider == "PREFACTOR":
        return bool(session["status"] == "authenticated")
    if provider == "ZITADEL":
        expires = session.get("expirationDate")
        return "user" in session.get("factors", {}) and (not expires or _time(expires) > now)
    return bool(
        session["active"]
        and _time(session["expires_at"]) > now
        and session["identity"]["state"] == "active"
    )


async def end_upstream(
    http: aiohttp.ClientSession, mocks: MockUpstreams, provider: str, native: str
) -> None:
    """End one session through the upstream's own API, as its admin would."""
    creds, url = mocks.credentials, mocks.urls[provider]
    if provider == "PRIVX":
        path, method, token = (
            f"/auth/api/v1/sessionstorage/sessions/{native}/terminate",
            "POST",
            creds.privx_token,
        )
    elif provider == "PREFACTOR":
        path, method, token = f"/api/v1/session/{native}/revoke", "POST", creds.prefactor_token
    elif provider == "ZITADEL":
        path, method, token = f"/v2/sessions/{native}", "DELETE", creds.zitadel_token
    else:
        path, method, token = f"/admin/sessions/{native}", "DELETE", creds.kratos_token
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url + path, headers=headers) as response:
        if response.status >= 300:
            raise RuntimeError(f"{provider} refused the end: {await response.text()}")


def victim(data: MockData, provider: str, rng: random.Random) -> str:
    """A live session from the older half of the listing (only the sweep reads there)."""
    now = datetime.now(UTC)
    sessions = data.sessions(provider)
    parents = {s.get("parent_session_id") for s in sessions} if provider == "PRIVX" else set()
    found = [s for s in sessions if live(provider, s, now) and s["id"] not in parents]
    key = {"PRIVX": "created", "PREFACTOR": "id", "ZITADEL": "creationDate"}.get(
        provider, "issued_at"
    )
    found.sort(key=lambda s: str(s[key]))
    return str(rng.choice(found[: max(len(found) // 2, 1)])["id"])


async def run(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    sizes = {SIZES[p]: args.sessions for p in PAGED}
    for spec in args.big:
        provider, _, count = spec.partition("=")
        sizes[SIZES[provider]] = int(count)
    began = time.monotonic()
    data = generate(**sizes)
    print(f"# generated in {time.monotonic() - began:.0f} s: {sizes}", file=sys.stderr)
    rng = random.Random(11)
    interval = args.interval
    sweeps = {p: int(n) for p, _, n in (spec.partition("=") for spec in args.sweep)}
    async with MockUpstreams(data) as mocks, aiohttp.ClientSession() as http:
        data = mocks.data  # the mocks serve a copy
        mocks_env = {"env": mocks.gateway_env()}
        env = {"GATEWAY_POLL_INTERVAL": str(interval)}
        if sweeps:
            env["GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER"] = json.dumps(sweeps)
        proc, url = await asyncio.to_thread(bench.start_gateway, mocks_env, 1, "gateway-org", env)
        base = url.removesuffix("/graphql")
        await asyncio.sleep(2)
        rss_before = rss(proc.pid)
        events: dict[tuple[str, str], float] = {}

        async def listen() -> None:
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            headers = {"Accept": "text/event-stream"}
            async with http.post(
                url, json={"query": QUERY}, headers=headers, timeout=timeout
            ) as response:
                async for raw in response.content:
                    line = raw.decode().strip()
                    if line.startswith("data:"):
                        event = (json.loads(line[5:]).get("data") or {}).get("sessionEvents")
                        if event:
                            events.setdefault((event["kind"], event["sessionId"]), time.monotonic())

        listener = asyncio.create_task(listen())
        subscribed = time.monotonic()
        while True:
            lines = await asyncio.to_thread(metrics, base)
            done = [value(lines, f'gateway_live_sweeps_total{{provider="{p}"}}') for p in PROVIDERS]
            if all(done):
                break
            if listener.done():
                raise RuntimeError(f"the subscription ended: {listener.exception()}")
            await asyncio.sleep(0.5)
        sweep_intervals = (time.monotonic() - subscribed) / interval
        await asyncio.sleep(interval)
        rss_after = rss(proc.pid)
        watched = sum(len(data.sessions(p)) for p in PROVIDERS)
        mocks.reset_calls()
        polls_before = {
            p: value(lines, f'gateway_live_poll_calls_count{{provider="{p}"}}') for p in PROVIDERS
        }
        window = time.monotonic()
        delays: dict[str, dict[str, list[float]]] = {p: {"CREATED": [], "ENDED": []} for p in PAGED}
        # Trials overlap: each starts a few intervals after the one before; all are awaited
        # together (the longest ENDED takes a sweep round).
        trials: list[tuple[float, set[tuple[str, str, str]]]] = []
        for _ in range(args.trials):
            created = {p: str(begin(data, p, rng)["id"]) for p in PAGED}
            ended = {p: victim(data, p, rng) for p in PAGED}
            start = time.monotonic()
            for provider, native in ended.items():
                await end_upstream(http, mocks, provider, native)
            trials.append((start, {
                (kind, provider, ids.encode(ids.SESSION, Provider(provider), native))
                for kind, natives in (("CREATED", created), ("ENDED", ended))
                for provider, native in natives.items()
            }))  # fmt: skip
            await asyncio.sleep(interval * rng.uniform(2, 4))
        deadline = time.monotonic() + args.wait * interval
        while time.monotonic() < deadline:
            if all((k, g) in events for _, wanted in trials for k, _, g in wanted):
                break
            await asyncio.sleep(0.2)
        for start, wanted in trials:
            for kind, provider, global_id in wanted:
                seen = events.get((kind, global_id))
                delays[provider][kind].append(
                    (seen - start) / interval if seen is not None else float("inf")
                )
        elapsed = time.monotonic() - window
        lines = await asyncio.to_thread(metrics, base)
        calls = {p: len(mocks.calls(p)) for p in PROVIDERS}
        polls = {
            p: value(lines, f'gateway_live_poll_calls_count{{provider="{p}"}}') - polls_before[p]
            for p in PROVIDERS
        }
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        return {
            "sizes": {p: len(data.sessions(p)) for p in PROVIDERS},
            "interval": interval,
            "sweep_pages": 5,
            "sweep_pages_by_provider": sweeps,
            "first_sweep_intervals": round(sweep_intervals, 1),
            "rss_before_mib": round(rss_before / 2**20, 1),
            "rss_after_mib": round(rss_after / 2**20, 1),
            "watched": watched,
            "rss_per_session_bytes": round((rss_after - rss_before) / watched),
            "calls_per_interval": {p: round(calls[p] / (elapsed / interval), 1) for p in PROVIDERS},
            "calls_per_poll": {p: round(calls[p] / max(polls[p], 1), 1) for p in PROVIDERS},
            "most_calls_one_poll": {p: most_calls(lines, p) for p in PROVIDERS},
            "delays": delays,
        }


def table(result: dict[str, Any]) -> str:
    head = ["provider", "sessions", "CREATED delay (intervals) median / max",
            "ENDED delay median / max", "calls per interval", "most calls in one poll"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} / {max(values):.1f}" if values else "-"

    for provider in PROVIDERS:
        delay = result["delays"].get(provider, {})
        cells = [
            provider,
            str(result["sizes"][provider]),
            spread(delay.get("CREATED", [])),
            spread(delay.get("ENDED", [])),
            str(result["calls_per_interval"][provider]),
            result["most_calls_one_poll"][provider],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"First sweep of every listing: {result['first_sweep_intervals']} intervals. Gateway "
        f"RSS {result['rss_before_mib']} MiB before the watch, {result['rss_after_mib']} MiB "
        f"after its first sweep: {result['rss_per_session_bytes']} bytes per watched session "
        f"({result['watched']} sessions)."
    )
    if result["sweep_pages_by_provider"]:
        lines.append(f"Sweep pages per poll: {result['sweep_pages_by_provider']}, else 5.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--wait", type=float, default=120, help="intervals to wait for events")
    parser.add_argument("--big", action="append", default=[], help="PROVIDER=COUNT")
    parser.add_argument(
        "--sweep", action="append", default=[], help="PROVIDER=PAGES: its own sweep pages"
    )
    args = parser.parse_args()
    args.latency_ms = 0
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench = Bench(args, stamp)
    try:
        result = asyncio.run(run(args, bench))
    finally:
        bench.stop_all()
    print(f"# {json.dumps(result)}", file=sys.stderr)
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
