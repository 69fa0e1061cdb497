"""`bench/run --check-work`: whether gateway and peer do the same work, workload by workload.

A few sequential requests per side (no load), counted at the mocks: upstream calls, the bytes the
upstreams answered, and the bytes of the answer itself, per request. A ratio between gateway and
peer is only worth reading where the first two agree within 5 % (workloads.TOLERANCE); bench/run
refuses one otherwise. Prints a markdown table; exits 1 when the work differs or a side failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import live_fanout
import peer
import viewer
import workloads
from harness import Bench


@dataclass
class Side:
    """What one side cost per request on one workload."""

    calls: float
    upstream_bytes: float
    response_bytes: float
    paths: dict[str, float]
    # Every upstream call, normalized: which pages were fetched, not only how many.
    pages: Counter[str]
    # Sessions answered per request, by provider (workloads.sessions_answered).
    sessions: dict[str, float]


def same_work(gateway: Side, peer_side: Side) -> bool:
    """Equal work: the same upstream calls and upstream bytes per request, within 5 %."""
    return workloads.same_work(
        (gateway.calls, peer_side.calls), (gateway.upstream_bytes, peer_side.upstream_bytes)
    )


def calls_made(mocks: dict[str, Any]) -> dict[str, Any]:
    """The mocks' count since the last read, every call listed (and forget them)."""
    with urllib.request.urlopen(f"{mocks['control']}/calls?detail=1", timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def send(url: str, body: dict[str, Any], timeout: float = 60.0) -> tuple[bytes, dict[str, Any]]:
    """POST `body`; the raw answer and its data. Raises on a GraphQL error or a failed status."""
    headers, data = workloads.wire(body)
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw: bytes = response.read()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"HTTP {error.code}: {error.read()[:400]!r}") from None
    answer = json.loads(raw)
    if answer.get("errors") or not answer.get("data"):
        raise RuntimeError(f"answered errors: {json.dumps(answer.get('errors'))[:600]}")
    return raw, answer["data"]


def measure(
    side: str, url: str, bodies: list[dict[str, Any]], mocks: dict[str, Any], requests: int
) -> Side:
    """`requests` sequential requests cycling through `bodies`, after one not counted."""
    send(url, bodies[0])
    calls_made(mocks)
    sizes = 0
    sessions: Counter[str] = Counter()
    for index in range(requests):
        raw, data = send(url, bodies[index % len(bodies)])
        sizes += len(raw)
        sessions += workloads.sessions_answered(side, data)
    counted = calls_made(mocks)
    return Side(
        calls=sum(counted["calls"].values()) / requests,
        upstream_bytes=sum(counted["bytes"].values()) / requests,
        response_bytes=sizes / requests,
        paths={path: n / requests for path, n in sorted(counted["paths"].items())},
        pages=Counter(workloads.page(call) for call in counted["every"]),
        sessions={provider: n / requests for provider, n in sorted(sessions.items())},
    )


def subscribers(bench: Bench, mocks: dict[str, Any], count: int, seconds: float) -> str:
    """The SSE workload on the gateway: upstream calls per poll interval with `count` streams."""
    admin = secrets.token_urlsafe(16)
    keys, _ = live_fanout.api_keys([], admin)
    env = Bench.UNBOUNDED | {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": keys,
        "GATEWAY_POLL_INTERVAL": "1",
        "GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER": str(count),
    }
    proc, url = bench.start_gateway(mocks, 1, "gateway-sse", env)
    try:
        row = asyncio.run(live_fanout.window(url, [admin] * count, seconds, 1.0, proc, mocks))
    finally:
        bench.stop(proc)
    calls = sum(row["calls_per_interval"].values())
    return f"{int(row['open'])} open, {calls:g} upstream calls per poll interval"


def ratio_cell(gateway: Side | None, peer_side: Side | None) -> str:
    """Whether the work is the same: the gate bench/run applies, and the pages themselves."""
    if gateway is None or peer_side is None:
        return "-"
    if not same_work(gateway, peer_side):
        return "**no: no ratio**"
    if gateway.pages != peer_side.pages:
        return "**calls and bytes within 5 %, but other pages**"
    return "yes, the same pages"


def answered_cell(gateway: Side | None, peer_side: Side | None) -> str:
    """Sessions per request on each side; the peer must hold at least the gateway's of every
    provider (it answers every record it fetched)."""
    if gateway is None or peer_side is None:
        return "-"
    cell = f"{sum(gateway.sessions.values()):g} / {sum(peer_side.sessions.values()):g}"
    short = [p for p, n in gateway.sessions.items() if peer_side.sessions.get(p, 0) < n]
    return cell if not short else f"**{cell}: the peer answers fewer of {', '.join(short)}**"


def run(args: argparse.Namespace) -> int:
    chosen = [workloads.BY_NAME[n] for n in args.workload] if args.workload else workloads.WORKLOADS
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-check-work"
    bench = Bench(args, stamp)
    rows: list[str] = []
    failed = False
    try:
        _mocks_proc, mocks = bench.start_mocks(large=False)
        peer_url: str | None = None
        peer_missing = ""
        if any(w.peer is not None for w in chosen):
            try:
                _peer_proc, peer_url = bench.start_peer(mocks)
            except peer.PeerUnavailable as exc:
                peer_missing = str(exc)
        gateways: dict[str, str] = {}
        for workload in chosen:
            print(f"# {workload.name}", file=sys.stderr, flush=True)
            if workload.kind == "sse":
                seen = subscribers(bench, mocks, args.subscribers, args.sse_seconds)
                rows.append(f"| {workload.name} | {seen} | {workload.no_peer} | no ratio | - |")
                continue
            if workload.needs_viewer and "viewer_env" not in mocks:
                viewer.prepare(mocks, bench.logs)
            settings = workloads.env(workload, mocks)
            key = json.dumps(settings, sort_keys=True)
            if key not in gateways:
                name = f"gateway-{len(gateways)}"
                _proc, gateways[key] = bench.start_gateway(
                    mocks, 1, name, Bench.UNBOUNDED | settings
                )
            cells: dict[str, Side | None] = {"gateway": None, "peer": None}
            notes: dict[str, str] = {}
            sides = [("gateway", gateways[key], workload.gateway)]
            if workload.peer is not None and peer_url is not None:
                sides.append(("peer", peer_url, workload.peer))
            elif workload.peer is not None:
                notes["peer"] = f"not started: {peer_missing[:200]}"
            for side, url, bodies in sides:
                try:
                    cells[side] = measure(side, url, bodies(mocks), mocks, args.requests)
                except (RuntimeError, OSError, ValueError) as exc:
                    notes[side] = f"failed: {exc}"
                    failed = True
            gateway_side, peer_side = cells["gateway"], cells["peer"]
            if args.verbose:
                for side, measured in cells.items():
                    if measured is not None:
                        print(f"# {workload.name} {side}: {json.dumps(measured.paths)}",
                              file=sys.stderr)  # fmt: skip
            if gateway_side is not None and peer_side is not None:
                for only, pages in (
                    ("gateway", gateway_side.pages - peer_side.pages),
                    ("peer", peer_side.pages - gateway_side.pages),
                ):
                    for text, n in sorted(pages.items())[:5]:
                        print(f"# {workload.name}: only the {only} fetched ({n}x) {text[:300]}",
                              file=sys.stderr)  # fmt: skip
            equal = ratio_cell(cells["gateway"], cells["peer"])
            if equal.startswith("**"):
                failed = True
            described = [
                notes.get(side)
                or (
                    f"{c.calls:g} / {c.upstream_bytes:,.0f} B / {c.response_bytes:,.0f} B"
                    if (c := cells[side]) is not None
                    else workload.no_peer or "-"
                )
                for side in ("gateway", "peer")
            ]
            answered = answered_cell(cells["gateway"], cells["peer"])
            if answered.startswith("**"):
                failed = True
            rows.append(
                f"| {workload.name} | {described[0]} | {described[1]} | {equal} | {answered} |"
            )
    finally:
        bench.stop_all()
    print("| workload | gateway: calls / upstream bytes / answer bytes per request | "
          "peer: the same | same work (±5 %) | sessions answered, gateway / peer |")  # fmt: skip
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="*", choices=sorted(workloads.BY_NAME))
    parser.add_argument("--requests", type=int, default=5, help="counted requests per side")
    parser.add_argument("--latency-ms", type=float, default=1.0, help="mock upstream latency")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--sse-seconds", type=float, default=2.0)
    parser.add_argument("--verbose", action="store_true", help="upstream calls by path")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
