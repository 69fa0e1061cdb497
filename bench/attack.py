"""bench/run --attack: can one client take the gateway down through its new doors? (issue 26)

Starts redis-server on a free loopback port, the mocks, and a gateway process (one worker) for
each attack, so that memory one attack leaves behind does not hide the next one's growth
(--one-gateway: one for all). Three API keys: the attacker's (no scope, one person's PrivX and
Prefactor sessions: the lowest privilege), the bystander's (`sessions:read:all`) and a limited
one (its own `rateLimit`). Or drives a gateway already running (--url; keys, Redis and its pid
as options). Findings 1-4 of issue 26 run one after another, each beside bench/overload.py's
/healthz probe (every 20 ms on a fresh connection) and bystander (a small query every 200 ms),
with the gateway's VmRSS sampled from /proc. A markdown table and PASS/FAIL per criterion go
to stdout, the whole run to bench/results/<timestamp>-attack.json; the exit status is 0
whatever the verdicts (a measurement). See docs/performance.md, "Attacks on the new doors"."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import resource
import secrets
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import redis
import redis.asyncio as aioredis
from harness import HERE, ROOT, Bench, machine
from limits import parse as parse_limit
from overload import (
    BYSTANDER_NODES,
    BYSTANDER_QUERY,
    REQUEST_TIMEOUT,
    HealthProbe,
    Tally,
    _body,
    _duration,
    bystander_load,
    gateway_env,
    health_figures,
    recovery,
    send,
)
from procs import Proc, free_port, start, wait_quiet
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

WS_PROTOCOL = Subprotocol("graphql-transport-ws")
# The pass criteria: /healthz answering within HEALTHY_MS, RSS growth under RSS_GROWTH_MB.
HEALTHY_MS = 100.0
RSS_GROWTH_MB = 50.0
MB = 1024 * 1024
RSS_INTERVAL = 0.2
OPEN_TIMEOUT = 10.0
# A large frame not sent by then is left half-sent (the gateway stopped reading).
FRAME_TIMEOUT = 20.0
# Handshakes attack 1 keeps in progress at once.
PARALLEL_OPENS = 100
# The attacker's key sees one person's sessions at these providers; the bystander's query asks
# ZITADEL only, so the upstream calls of the other providers are the attacker's alone.
ATTACKER_PROVIDERS = ("PRIVX", "PREFACTOR")
BYSTANDER_PROVIDER = "ZITADEL"
# Turns the rate limiter on (in Redis) without limiting anyone but the limited key.
GENEROUS_RATE_LIMIT = "100000/minute"
DEFAULT_POLL_INTERVAL = 5.0  # GATEWAY_POLL_INTERVAL's default
DEFAULT_POLL_GRACE = 30.0  # GATEWAY_POLL_GRACE's
APQ_PREFIX = "gateway:apq:"  # app/state/persisted.py's keys
WATCH = (
    "subscription Watch($filter: SessionFilterInput) "
    "{ sessionEvents(filter: $filter) { kind sessionId } }"
)
ATTACKER_CHECK = "query Mine { sessions(first: 5) { nodes { id } } }"
CHEAP_QUERY = "query Providers { providers { provider } }"
FILLER = "gateway-bench:filler:"
CHUNK = b"x" * 65536

# Each attack's sizes: the full run takes a few minutes, --quick about one.
SIZES: dict[str, tuple[float, float, str]] = {
    # name: (default, --quick, help)
    "flood_sockets": (1000, 1000, "1: upgrades opened at once, none sending connection_init"),
    "flood_hold": (10, 4, "1a: seconds the flood's sockets are held"),
    "reopen_seconds": (30, 6, "1b: seconds of reopening every socket the gateway closes"),
    "reopen_rate": (20, 20, "1b: upgrades per second at most"),
    "frame_sockets": (40, 20, "2: sockets each sending most of a 16,000,000-byte frame"),
    "frame_share": (0.95, 0.95, "2: share of the declared frame each socket sends"),
    "frame_hold": (5, 3, "2: seconds the sockets are held once sent"),
    "frame_settle": (5, 3, "2: seconds between closing them and the last RSS reading"),
    "poll_seconds": (20, 8, "3: seconds of subscribe + complete"),
    "poll_rate": (40, 40, "3: subscribes per second"),
    "poll_open": (5, 5, "3: subscriptions kept open at once (each completed after as many more)"),
    "poll_after": (15, 5, "3: seconds counted after the flood (grace-period pollers)"),
    "poller_budget": (20, 20, "3: pollers one caller may hold (the upstream-call bound uses it)"),
    "apq_seconds": (15, 5, "4: seconds of APQ registrations"),
    "apq_concurrency": (8, 8, "4: registrations in flight"),
    "apq_bytes": (16000, 16000, "4: size of each registered document"),
    "limited_requests": (90, 90, "4: requests of the limited key once Redis is full"),
    "pause": (2, 1, "seconds between attacks"),
    "settle_limit": (30, 10, "seconds at most to wait, after an attack, for RSS to stop falling"),
    "quiet_wait": (60, 5, "seconds to wait for other work on the machine to stop first"),
}


# --- measuring ----------------------------------------------------------------------


def vm_rss(pid: int) -> int:
    """VmRSS of `pid` in bytes, from /proc/<pid>/status (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class RssSampler:
    """The gateway's resident memory every RSS_INTERVAL s, from a thread of its own (the
    bench's event loop is busy during the attacks)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def now(self) -> int:
        return sum(vm_rss(pid) for pid in self.pids)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def peak(self, start: float, end: float) -> int:
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.now()))
            self._stop.wait(RSS_INTERVAL)


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})? (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')

Samples = list[tuple[str, dict[str, str], float]]


async def read_metrics(session: aiohttp.ClientSession, base: str) -> Samples:
    """Every sample of /metrics: (name, labels, value)."""
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    return [
        (name, dict(_LABEL.findall(labels or "")), float(value))
        for name, labels, value in _SAMPLE.findall(text)
    ]


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for sample, have, value in samples
        if sample == name and all(have.get(k) == v for k, v in labels.items())
    )


def upstream_calls(samples: Samples) -> Counter[str]:
    """Upstream calls so far, by provider."""
    calls: Counter[str] = Counter()
    for name, labels, value in samples:
        if name == "gateway_upstream_calls_total":
            calls[labels.get("provider", "?")] += int(value)
    return calls


def attacker_calls(calls: Counter[str]) -> int:
    """Calls to every provider but the bystander's."""
    return sum(n for provider, n in calls.items() if provider != BYSTANDER_PROVIDER)


@dataclass
class Target:
    """The gateway under attack: where it listens, its callers, what measures it."""

    base: str
    attacker_key: str
    attacker: aiohttp.ClientSession
    bystander: aiohttp.ClientSession
    limited: aiohttp.ClientSession | None
    limit: int  # the limited key's requests per window
    probe: HealthProbe
    rss: RssSampler | None
    redis_url: str | None
    poll_interval: float
    poll_grace: float
    attacker_rate: str | None = None  # the attacker's own rateLimit in the poller flood

    @property
    def graphql(self) -> str:
        return f"{self.base}/graphql"

    @property
    def ws(self) -> str:
        return "ws" + self.graphql.removeprefix("http")


async def caught_up(probe: HealthProbe, since: float) -> None:
    """Wait for a probe sent after `since`, so that one still in flight at the end of a
    window (a slow one) is counted in it."""
    deadline = time.monotonic() + REQUEST_TIMEOUT + 5
    while time.monotonic() < deadline:
        if any(sample.sent >= since for sample in probe.samples[-5:]):
            return
        await asyncio.sleep(0.05)


def criterion(name: str, value: str, passed: bool | None) -> dict[str, Any]:
    return {"criterion": name, "value": value, "pass": passed}


async def window(
    target: Target,
    name: str,
    what: str,
    attack: Callable[[], Awaitable[dict[str, Any]]],
    judge: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None,
    recover: bool = True,
    rss_since: float | None = None,
) -> dict[str, Any]:
    """Run `attack` with the bystander beside it; the window's figures and verdicts, and
    unless not `recover`, how long /healthz took to be fast again after it. RSS growth is
    counted from `rss_since` (bytes) if given, else from the start of the window."""
    print(f"# {name}: {what}", file=sys.stderr, flush=True)
    rss_before = target.rss.now() if target.rss else None
    if rss_since is not None and rss_before is not None:
        rss_before = int(rss_since)
    bystander = Tally(expect_nodes=BYSTANDER_NODES)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    stop = asyncio.Event()
    beside = asyncio.create_task(bystander_load(target.bystander, target.graphql, stop, bystander))
    try:
        details = await attack()
    finally:
        stop.set()
        await beside
    ended = time.monotonic()
    await caught_up(target.probe, ended)
    rss_after = target.rss.now() if target.rss else None
    recovered = await recovery(target.probe, ended) if recover else None
    after = resource.getrusage(resource.RUSAGE_SELF)
    health = health_figures(target.probe.between(began, ended))
    row: dict[str, Any] = {
        "attack": name,
        "what": what,
        "seconds": round(ended - began, 1),
        "healthz": health,
        "recovery_s": recovered,
        "bystander": bystander.figures(),
        "bench_cpu_s": round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 2),
        **details,
    }
    verdicts = [
        criterion(
            f"/healthz within {HEALTHY_MS:.0f} ms throughout",
            f"max {_duration(health['max_ms'])}, p99 {_duration(health['p99_ms'])}, "
            f"{health['failed']} of {health['probes']} failed",
            health["max_ms"] is not None
            and health["max_ms"] < HEALTHY_MS
            and health["failed"] == 0,
        )
    ]
    if target.rss and rss_before is not None and rss_after is not None:
        peak = max(target.rss.peak(began, ended), rss_before, rss_after)
        growth = (peak - rss_before) / MB
        row["rss_mb"] = {
            "before": round(rss_before / MB, 1),
            "peak": round(peak / MB, 1),
            "after": round(rss_after / MB, 1),
            "growth": round(growth, 1),
            "kept": round((rss_after - rss_before) / MB, 1),
        }
        verdicts.append(
            criterion(
                f"RSS growth under {RSS_GROWTH_MB:.0f} MB",
                f"{growth:+.1f} MB at peak ({row['rss_mb']['kept']:+.1f} MB at the end)",
                growth < RSS_GROWTH_MB,
            )
        )
    else:
        verdicts.append(criterion(f"RSS growth under {RSS_GROWTH_MB:.0f} MB", "-", None))
    if judge is not None:
        verdicts += judge(row)
    row["criteria"] = verdicts
    print(json.dumps(_brief(row)), flush=True)
    return row


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("attack", "seconds", "summary", "rss_mb", "recovery_s")
    return {k: row[k] for k in keep if k in row} | {
        "healthz_max_ms": row["healthz"]["max_ms"],
        "pass": [c["pass"] for c in row["criteria"]],
    }


# --- 1: the upgrade flood -----------------------------------------------------------


async def open_socket(url: str) -> tuple[ClientConnection | None, str]:
    """A graphql-transport-ws upgrade without credentials; the socket, or why not."""
    try:
        socket = await connect(
            url,
            subprotocols=[WS_PROTOCOL],
            open_timeout=OPEN_TIMEOUT,
            ping_interval=None,
            close_timeout=1,
            compression=None,
            proxy=None,
            max_queue=4,
        )
    except InvalidStatus as exc:
        return None, f"HTTP {exc.response.status_code}"
    except (OSError, TimeoutError, WebSocketException) as exc:
        return None, type(exc).__name__
    return socket, "accepted"


class Flood:
    """Attack 1: upgrades that never send connection_init, held open, reopened when closed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.open: set[ClientConnection] = set()
        self.outcomes: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()  # by the gateway, by close code

    async def one(self) -> None:
        socket, outcome = await open_socket(self.url)
        self.outcomes[outcome] += 1
        if socket is not None:
            self.open.add(socket)

    def reap(self) -> None:
        """Forget the sockets the gateway has closed, counting their close codes."""
        for socket in [s for s in self.open if s.close_code is not None]:
            self.closed[str(socket.close_code)] += 1
            self.open.discard(socket)

    def figures(self, attempts: int) -> dict[str, Any]:
        accepted = self.outcomes["accepted"]
        return {
            "upgrades": attempts,
            "accepted": accepted,
            "refused": attempts - accepted,
            "outcomes": dict(self.outcomes.most_common()),
            "closed_by_gateway": dict(self.closed.most_common()),
        }

    async def burst(self, count: int, hold: float) -> dict[str, Any]:
        """1a: `count` upgrades as fast as they go, then held for `hold` seconds."""
        gate = asyncio.Semaphore(PARALLEL_OPENS)

        async def gated() -> None:
            async with gate:
                await self.one()

        began = time.monotonic()
        await asyncio.gather(*(gated() for _ in range(count)))
        opened = time.monotonic() - began
        await asyncio.sleep(hold)
        self.reap()
        figures = self.figures(count) | {
            "opened_in_s": round(opened, 1),
            "open_at_end": len(self.open),
        }
        figures["summary"] = (
            f"{figures['accepted']} of {count} accepted in {opened:.1f} s, "
            f"{len(self.open)} still open after {hold:g} s"
        )
        return figures

    async def reopening(self, pool: int, seconds: float, rate: float) -> dict[str, Any]:
        """1b: for `seconds`, every socket the gateway closes is opened again, at most `rate`
        upgrades a second, up to `pool` open; then every socket is closed."""
        self.outcomes, self.closed = Counter(), Counter()
        pending: set[asyncio.Task[None]] = set()
        attempts = 0
        least = most = len(self.open)
        stop_at = time.monotonic() + seconds
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            self.reap()
            least, most = min(least, len(self.open)), max(most, len(self.open))
            if len(self.open) + len(pending) < pool:
                task = asyncio.create_task(self.one())
                pending.add(task)
                task.add_done_callback(pending.discard)
                attempts += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if pending:
            await asyncio.gather(*pending)
        self.reap()
        at_end = len(self.open)
        await asyncio.gather(*(s.close() for s in self.open), return_exceptions=True)
        self.open.clear()
        figures = self.figures(attempts) | {
            "open_min": least,
            "open_max": most,
            "open_at_end": at_end,
        }
        closed = sum(self.closed.values())
        figures["summary"] = (
            f"{closed} closed by the gateway, {attempts} reopened ({figures['accepted']} "
            f"accepted); {least}-{most} open"
        )
        return figures


# --- 2: large frames before authentication ------------------------------------------


def frame_header(length: int) -> bytes:
    """A client's (masked) text frame header declaring `length` bytes (RFC 6455, 5.2)."""
    return bytes([0x81, 0x80 | 127]) + length.to_bytes(8, "big") + os.urandom(4)


def upgrade_request(host: str, port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {WS_PROTOCOL}\r\n\r\n"
    ).encode()


async def large_frame(
    host: str, port: int, declared: int, share: float
) -> tuple[str, int, asyncio.StreamWriter | None]:
    """Upgrade without credentials, then a frame header declaring `declared` bytes and
    `share` of its payload: the outcome, the bytes sent, and the connection if still open."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), OPEN_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__, 0, None
    sent = 0
    try:
        async with asyncio.timeout(FRAME_TIMEOUT):
            writer.write(upgrade_request(host, port))
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].decode(errors="replace")
            if status != "101":
                writer.close()
                return f"HTTP {status}", 0, None
            writer.write(frame_header(declared))
            goal = int(declared * share)
            while sent < goal:
                piece = CHUNK[: goal - sent]
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
    except TimeoutError:
        return "stalled", sent, writer  # the gateway stopped reading: held like the others
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError) as exc:
        writer.close()
        return f"cut ({type(exc).__name__})", sent, None
    return "sent", sent, writer


async def large_frames(
    target: Target, sockets: int, share: float, hold: float, settle: float
) -> dict[str, Any]:
    """Attack 2: `sockets` connections each sending `share` of a 16,000,000-byte frame before
    any connection_init, held `hold` s, then closed; RSS read again `settle` s later."""
    parts = urlsplit(target.base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    declared = 16_000_000
    began = time.monotonic()
    results = await asyncio.gather(
        *(large_frame(host, port, declared, share) for _ in range(sockets))
    )
    sending = time.monotonic() - began
    outcomes = Counter(outcome for outcome, _, _ in results)
    writers = [writer for _, _, writer in results if writer is not None]
    await asyncio.sleep(hold)
    held = target.rss.now() / MB if target.rss else None
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    await asyncio.sleep(settle)
    total = sum(sent for _, sent, _ in results)
    others = ", ".join(f"{k}: {n}" for k, n in outcomes.items() if k != "sent")
    return {
        "sockets": sockets,
        "declared_bytes": declared,
        "share": share,
        "outcomes": dict(outcomes.most_common()),
        "sent_mb": round(total / MB, 1),
        "sending_s": round(sending, 1),
        "rss_held_mb": None if held is None else round(held, 1),
        "summary": (
            f"{outcomes['sent']} of {sockets} sent {share:.0%} of 16 MB "
            f"({total / MB:.0f} MB in all)" + (f"; {others}" if others else "")
        ),
    }


# --- 3: the poller flood ------------------------------------------------------------


class Subscriber:
    """One graphql-transport-ws connection of the attacker's, authenticated at init."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.received: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()  # of `error` messages
        self.closes: Counter[str] = Counter()  # by close code (1000: the bench's own close)
        self.connections = 0

    async def connect(self) -> ClientConnection | None:
        socket, outcome = await open_socket(self.url)
        if socket is None:
            self.closes[f"upgrade: {outcome}"] += 1
            return None
        self.connections += 1
        try:
            await socket.send(
                json.dumps({"type": "connection_init", "payload": {"X-API-Key": self.key}})
            )
            async with asyncio.timeout(OPEN_TIMEOUT):
                while json.loads(await socket.recv()).get("type") != "connection_ack":
                    pass
        except (TimeoutError, ConnectionClosed, ValueError) as exc:
            self.closes[f"init: {socket.close_code or type(exc).__name__}"] += 1
            await socket.close()
            return None
        return socket

    async def listen(self, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                message = json.loads(raw)
                kind = str(message.get("type"))
                self.received[kind] += 1
                if kind == "error":
                    for error in message.get("payload") or []:
                        code = (error.get("extensions") or {}).get("code")
                        self.codes[str(code)] += 1
        self.closes[str(socket.close_code)] += 1

    async def flood(self, seconds: float, rate: float, keep_open: int) -> dict[str, int]:
        """subscribe + complete, each with a new filter: `rate` a second, `keep_open` open at
        a time, for `seconds`; a connection the gateway closes is opened again."""
        counts: Counter[str] = Counter()
        numbers = itertools.count()
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            socket = await self.connect()
            if socket is None:
                await asyncio.sleep(0.5)
                continue
            listener = asyncio.create_task(self.listen(socket))
            try:
                # A gateway that stops reading must not hold the bench past the window.
                async with asyncio.timeout(stop_at - time.monotonic() + OPEN_TIMEOUT):
                    await self._subscribe(socket, stop_at, rate, keep_open, numbers, counts)
            except ConnectionClosed:
                pass
            except TimeoutError:
                self.closes["stalled"] += 1
            finally:
                await socket.close()
                await listener
        return dict(counts)

    async def _subscribe(
        self,
        socket: ClientConnection,
        stop_at: float,
        rate: float,
        keep_open: int,
        numbers: Iterator[int],
        counts: Counter[str],
    ) -> None:
        tag = secrets.token_hex(3)
        live: list[str] = []
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            n = next(numbers)
            variables = {"filter": {"userAgent": f"attack-{tag}-{n}"}}
            payload = {"query": WATCH, "variables": variables}
            await socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
            counts["subscribes"] += 1
            live.append(str(n))
            if len(live) > keep_open:
                await socket.send(json.dumps({"id": live.pop(0), "type": "complete"}))
                counts["completes"] += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        for ident in live:
            await socket.send(json.dumps({"id": ident, "type": "complete"}))
            counts["completes"] += 1


async def gauges(target: Target, into: list[dict[str, float]], stop: asyncio.Event) -> None:
    """Pollers and subscriptions from /metrics every second until `stop`."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError, aiohttp.ClientError):
            samples = await read_metrics(target.bystander, target.base)
            into.append(
                {
                    "at": time.monotonic(),
                    "pollers": metric(samples, "gateway_live_pollers"),
                    "subscriptions": metric(samples, "gateway_live_subscriptions"),
                }
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def calls_per_poll(target: Target) -> dict[str, Any]:
    """Upstream calls one poll of one attacker's watch makes: one subscription with a filter
    of its own, held until the calls stop growing (its first poll), then completed."""
    subscriber = Subscriber(target.ws, target.attacker_key)
    socket = await subscriber.connect()
    if socket is None:
        return {"error": f"no connection: {dict(subscriber.closes)}"}
    before = attacker_calls(upstream_calls(await read_metrics(target.bystander, target.base)))
    payload = {
        "query": WATCH,
        "variables": {"filter": {"userAgent": f"calibration-{secrets.token_hex(3)}"}},
    }
    await socket.send(json.dumps({"id": "calibration", "type": "subscribe", "payload": payload}))
    seen, stable, deadline = 0, 0, time.monotonic() + 10
    while time.monotonic() < deadline and stable < 3:
        await asyncio.sleep(0.3)
        now = attacker_calls(upstream_calls(await read_metrics(target.bystander, target.base)))
        stable = stable + 1 if now - before == seen and seen > 0 else 0
        seen = now - before
    with contextlib.suppress(ConnectionClosed):
        await socket.send(json.dumps({"id": "calibration", "type": "complete"}))
        await socket.close()
    return {"calls": seen}


async def poller_flood(
    target: Target, seconds: float, rate: float, keep_open: int, after: float, budget: int
) -> dict[str, Any]:
    """Attack 3: the subscribe + complete loop, then `after` seconds of grace-period pollers."""
    calibration = await calls_per_poll(target)
    per_poll = calibration.get("calls") or 0
    before = await read_metrics(target.bystander, target.base)
    samples: list[dict[str, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(gauges(target, samples, stop))
    subscriber = Subscriber(target.ws, target.attacker_key)
    began = time.monotonic()
    counts = await subscriber.flood(seconds, rate, keep_open)
    flooded = time.monotonic()
    during = await read_metrics(target.bystander, target.base)
    await asyncio.sleep(after)
    ended = await read_metrics(target.bystander, target.base)
    stop.set()
    await sampler
    calls_during = upstream_calls(during) - upstream_calls(before)
    calls_after = upstream_calls(ended) - upstream_calls(during)
    attacker_during, attacker_after = attacker_calls(calls_during), attacker_calls(calls_after)
    # Each poller polls when it starts and then every interval (+-10 %), and one that ends
    # a grace period after its last subscriber frees its place for a new one: over the window,
    # each of the caller's budget of places makes at most this many polls.
    span = flooded - began + after
    polls = 1 + span / (0.9 * target.poll_interval) + span / max(target.poll_grace, 1.0)
    # A new watch reads its first snapshot at once, so each subscribe the caller's rate limit
    # admits may cost one poll more: at most the limit's amount per window over the span.
    allowed = rate_allowance(target.attacker_rate, span)
    bound = math.ceil(budget * per_poll * polls + allowed * per_poll)
    pollers = max((s["pollers"] for s in samples), default=0)
    refused = sum(subscriber.codes.values())
    return {
        "calls_per_poll": per_poll,
        "calibration": calibration,
        "subscribes": counts.get("subscribes", 0),
        "completes": counts.get("completes", 0),
        "answers": dict(subscriber.received.most_common()),
        "error_codes": dict(subscriber.codes.most_common()),
        "connections": subscriber.connections,
        "closes": dict(subscriber.closes.most_common()),
        "pollers_max": int(pollers),
        "pollers_at_end": int(metric(ended, "gateway_live_pollers")),
        "upstream_calls_during": attacker_during,
        "upstream_calls_after": attacker_after,
        "upstream_calls_by_provider": dict(calls_during + calls_after),
        "upstream_bound": bound,
        "poller_budget": budget,
        "subscribes_allowed": allowed,
        "attacker_rate": target.attacker_rate,
        "summary": (
            f"{counts.get('subscribes', 0)} subscribes ({refused} refused), "
            f"{int(pollers)} pollers at most"
        ),
    }


def rate_allowance(rate: str | None, span: float) -> int:
    """Requests a `rate` such as 120/minute admits over `span` seconds at most (a sliding
    window counter admits at most its amount in any one window)."""
    if not rate:
        return 10**9
    item = parse_limit(rate)
    return math.ceil(item.amount * (1 + span / item.get_expiry()))


def judge_pollers(row: dict[str, Any]) -> list[dict[str, Any]]:
    calls = row["upstream_calls_during"] + row["upstream_calls_after"]
    measured = row["calls_per_poll"] > 0
    return [
        criterion(
            "upstream calls bounded by the caller's poller budget",
            f"{calls} calls ({row['upstream_calls_during']} during, "
            f"{row['upstream_calls_after']} after); bound {row['upstream_bound']} = "
            f"{row['poller_budget']} pollers x {row['calls_per_poll']} calls per poll x polls "
            f"+ {row['subscribes_allowed']} subscribes its rate limit "
            f"({row['attacker_rate']}) admits x {row['calls_per_poll']}",
            calls <= row["upstream_bound"] if measured else None,
        )
    ]


# --- 4: APQ fill, then Redis full ---------------------------------------------------


def apq_document(n: int, size: int) -> str:
    """A valid document of about `size` bytes (a comment pads it), new text each time."""
    head = f"query Fill{n}_{secrets.token_hex(4)} {{ providers {{ provider }} }}\n# "
    return head + "x" * max(0, size - len(head))


def apq_body(document: str) -> bytes:
    digest = hashlib.sha256(document.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    return json.dumps({"query": document, "extensions": extensions}).encode()


async def used_memory(client: aioredis.Redis) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


async def apq_documents(client: aioredis.Redis) -> int:
    """APQ documents registered in Redis."""
    documents = 0
    async for _ in client.scan_iter(match=f"{APQ_PREFIX}*", count=1000):
        documents += 1
    return documents


async def apq_fill(
    target: Target, client: aioredis.Redis, seconds: float, concurrency: int, size: int
) -> dict[str, Any]:
    """Distinct documents registered through APQ by the attacker for `seconds`."""
    tally = Tally()
    before = await read_metrics(target.bystander, target.base)
    used_before, documents_before = await used_memory(client), await apq_documents(client)
    numbers = itertools.count()
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < stop_at:
            body = apq_body(apq_document(next(numbers), size))
            await send(target.attacker, target.graphql, body, tally)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    after = await read_metrics(target.bystander, target.base)
    used_after, documents_after = await used_memory(client), await apq_documents(client)
    name = "gateway_persisted_documents_total"
    registered = metric(after, name, result="apq_registered") - metric(
        before, name, result="apq_registered"
    )
    return {
        "apq": tally.figures(),
        "apq_registered": documents_after - documents_before,
        "apq_registered_metric": int(registered),
        "redis_growth_mb": round((used_after - used_before) / MB, 1),
    }


async def fill_redis(client: aioredis.Redis, written: list[str]) -> bool:
    """maxmemory just above what Redis uses, `noeviction`, then filler keys (their names go to
    `written`) until Redis refuses one: whether it refuses writes now."""
    used = await used_memory(client)
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", used + 256 * 1024)
    value = b"x" * 65536
    for n in range(1000):
        key = f"{FILLER}{n}"
        try:
            await client.set(key, value)
        except redis.OutOfMemoryError:
            break
        written.append(key)
    else:
        return False
    # Redis shrinks idle clients' buffers within seconds, which would make room again: the
    # limit goes a little under what it uses now, so that it stays full.
    used = await used_memory(client)
    await client.config_set("maxmemory", max(used - MB, MB))
    return await refuses_writes(client)


async def refuses_writes(client: aioredis.Redis) -> bool:
    """Whether Redis answers a small write with its out-of-memory error."""
    try:
        await client.set(f"{FILLER}probe", b"1")
    except redis.OutOfMemoryError:
        return True
    await client.delete(f"{FILLER}probe")
    return False


async def rate_limit_when_full(
    target: Target, client: aioredis.Redis, requests: int
) -> dict[str, Any]:
    """Redis full, then `requests` requests of the limited key, one after another; Redis's
    settings are put back and the filler keys deleted afterwards."""
    saved = await client.config_get("maxmemory")
    saved |= await client.config_get("maxmemory-policy")
    tally = Tally()
    written: list[str] = []
    try:
        full = await fill_redis(client, written)
        if full and target.limited is not None:
            for _ in range(requests):
                await send(target.limited, target.graphql, _body(CHEAP_QUERY), tally)
            full = await refuses_writes(client)  # still full at the end
    finally:
        for at in range(0, len(written), 500):
            await client.delete(*written[at : at + 500])
        await client.config_set("maxmemory", saved["maxmemory"])
        await client.config_set("maxmemory-policy", saved["maxmemory-policy"])
    return {"redis_full": full, "filler_keys": len(written), "limited": tally.figures()}


async def apq_and_full_redis(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Attack 4."""
    assert target.redis_url is not None
    client = aioredis.Redis.from_url(target.redis_url)
    try:
        fill = await apq_fill(
            target, client, args.apq_seconds, int(args.apq_concurrency), int(args.apq_bytes)
        )
        full = await rate_limit_when_full(target, client, int(args.limited_requests))
    finally:
        await client.aclose()
    apq, limited = fill["apq"], full["limited"]
    refused = apq["sent"] - apq["ok"]
    summary = (
        f"{fill['apq_registered']} of {apq['sent']} registered ({refused} refused), Redis "
        f"{fill['redis_growth_mb']:+.1f} MB; "
    )
    if not full["redis_full"]:
        summary += "Redis never refused a write"
    elif target.limited is None:
        summary += "no limited key"
    else:
        summary += f"Redis full: {limited['ok']} of {limited['sent']} admitted"
    return fill | full | {"limit": target.limit, "summary": summary}


def judge_rate_limit(row: dict[str, Any]) -> list[dict[str, Any]]:
    limited, limit = row["limited"], row["limit"]
    measured = row["redis_full"] and limited["sent"] > 0
    return [
        criterion(
            "rate limit enforced with Redis full",
            f"{limited['ok']} of {limited['sent']} admitted (limit {limit}; "
            f"{limited['shed']} refused with 429/503, {limited['other']} other)"
            if measured
            else "not measured (Redis not full, or no limited key)",
            limited["ok"] <= limit if measured else None,
        )
    ]


# --- the run ------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    attacker: str
    bystander: str
    limited: str | None


def api_keys(
    keys: Keys, person: dict[str, str], limited_rate: str, attacker_rate: str | None = None
) -> str:
    """GATEWAY_API_KEYS for the three callers, as digests; the attacker's own `rateLimit` if
    given."""

    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    users = [{"provider": provider, "id": person[provider]} for provider in ATTACKER_PROVIDERS]
    entries: list[dict[str, Any]] = [
        {"name": "attacker", "key_sha256": digest(keys.attacker), "users": users}
        | ({"rateLimit": attacker_rate} if attacker_rate else {}),
        {"name": "bystander", "key_sha256": digest(keys.bystander),
         "scopes": ["sessions:read:all"]},
    ]  # fmt: skip
    if keys.limited is not None:
        entries.append(
            {"name": "limited", "key_sha256": digest(keys.limited),
             "scopes": ["sessions:read:all"], "rateLimit": limited_rate}
        )  # fmt: skip
    return json.dumps(entries)


def start_redis(bench: Bench) -> str:
    """A throwaway redis-server (no persistence) on a free loopback port; its URL."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"]  # fmt: skip
    proc = start("redis", command, bench.logs, cwd=ROOT)
    bench.started.append(proc)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.ping()
            return f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            if not proc.alive():
                break
            time.sleep(0.1)
    raise RuntimeError(f"redis-server did not start:\n{proc.tail()}")


async def check_callers(target: Target) -> None:
    """The bystander's query is complete and the attacker's key works, on an idle gateway."""
    tally = Tally(expect_nodes=BYSTANDER_NODES)
    await send(target.bystander, target.graphql, _body(BYSTANDER_QUERY), tally)
    if tally.complete != 1:
        raise RuntimeError(f"the bystander key's check query failed: {tally.figures()}")
    tally = Tally()
    await send(target.attacker, target.graphql, _body(ATTACKER_CHECK), tally)
    if tally.ok != 1:
        raise RuntimeError(f"the attacker key's check query failed: {tally.figures()}")


Plan = list[
    tuple[
        str,
        str,
        str,
        Callable[[], Awaitable[dict[str, Any]]],
        Callable[[dict[str, Any]], list[dict[str, Any]]] | None,
    ]
]


def plan(target: Target, args: argparse.Namespace) -> Plan:
    """The attacks as `args` sizes them: (number, name, what, attack, its own criteria)."""
    flood = Flood(target.ws)
    count, sockets = int(args.flood_sockets), int(args.frame_sockets)
    return [
        (
            "1",
            "1a upgrade flood",
            f"{count} graphql-transport-ws upgrades, no connection_init, held "
            f"{args.flood_hold:g} s",
            lambda: flood.burst(count, args.flood_hold),
            None,
        ),
        (
            "1",
            "1b reopening",
            f"the flood's sockets kept, each one the gateway closes opened again (at most "
            f"{args.reopen_rate:g}/s) for {args.reopen_seconds:g} s, then all closed",
            lambda: flood.reopening(count, args.reopen_seconds, args.reopen_rate),
            None,
        ),
        (
            "2",
            "2 large frames",
            f"{sockets} sockets, each a frame header declaring 16,000,000 bytes and "
            f"{args.frame_share:.0%} of it, no connection_init; held {args.frame_hold:g} s, "
            f"closed, RSS read {args.frame_settle:g} s later",
            lambda: large_frames(
                target, sockets, args.frame_share, args.frame_hold, args.frame_settle
            ),
            None,
        ),
        (
            "3",
            "3 poller flood",
            f"subscribe + complete over one WebSocket, a new userAgent filter each time, "
            f"{args.poll_rate:g}/s for {args.poll_seconds:g} s ({int(args.poll_open)} open at "
            f"once), then {args.poll_after:g} s counted after",
            lambda: poller_flood(
                target,
                args.poll_seconds,
                args.poll_rate,
                int(args.poll_open),
                args.poll_after,
                int(args.poller_budget),
            ),
            judge_pollers,
        ),
        (
            "4",
            "4 APQ fill + Redis full",
            f"distinct {int(args.apq_bytes)}-byte documents registered through APQ by the "
            f"attacker for {args.apq_seconds:g} s ({int(args.apq_concurrency)} in flight); then "
            f"Redis at maxmemory with noeviction and {int(args.limited_requests)} requests of "
            f"a {args.limited_rate} key",
            lambda: apq_and_full_redis(target, args),
            judge_rate_limit,
        ),
    ]


async def settle(rss: RssSampler, limit: float, row: dict[str, Any]) -> None:
    """Wait until the gateway's RSS stops falling (by under 1 MB in 2 s), `limit` s at most,
    so the next attack starts from where memory settled; `row` (the attack before) gets it."""
    began = time.monotonic()
    current = rss.now()
    while time.monotonic() - began < limit:
        await asyncio.sleep(2.0)
        previous, current = current, rss.now()
        if previous - current < MB:
            break
    if "rss_mb" in row:
        row["rss_mb"]["settled"] = round(current / MB, 1)
        row["rss_settle_s"] = round(time.monotonic() - began, 1)


async def attack_all(
    args: argparse.Namespace,
    base: str,
    keys: Keys,
    redis_url: str | None,
    pids: list[int],
    poll: tuple[float, float],
    numbers: list[str],
) -> list[dict[str, Any]]:
    """Attacks `numbers` on one gateway, one after another."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    json_type = {"Content-Type": "application/json"}
    probe = HealthProbe(base)
    rss = RssSampler(pids) if pids else None
    probe.start()
    if rss:
        rss.start()

    def session(key: str, **options: Any) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            timeout=timeout, headers=json_type | {"X-API-Key": key}, **options
        )

    try:
        async with (
            session(keys.attacker, connector=aiohttp.TCPConnector(limit=0)) as attacker,
            session(keys.bystander) as bystander,
            session(keys.limited or "") as limited,
        ):
            target = Target(
                base=base,
                attacker_key=keys.attacker,
                attacker=attacker,
                bystander=bystander,
                limited=limited if keys.limited else None,
                limit=int(parse_limit(args.limited_rate).amount),
                probe=probe,
                rss=rss,
                redis_url=redis_url,
                poll_interval=poll[0],
                poll_grace=poll[1],
                attacker_rate=args.attacker_rate,
            )
            await check_callers(target)
            rows: list[dict[str, Any]] = []
            for number, name, what, attack, judge in plan(target, args):
                if number not in numbers:
                    continue
                if number == "4" and redis_url is None:
                    print("# 4: no Redis (--redis-url): not measured", file=sys.stderr)
                    continue
                if rows and rows[-1]["attack"] != "1a upgrade flood":
                    await asyncio.sleep(args.pause)
                    if rss is not None:
                        await settle(rss, args.settle_limit, rows[-1])
                # 1b goes on with 1a's sockets: no waiting for /healthz in between, and its
                # RSS growth counts from before the flood.
                recover = name != "1a upgrade flood"
                since = None
                if name == "1b reopening" and rows and "rss_mb" in rows[-1]:
                    since = rows[-1]["rss_mb"]["before"] * MB
                rows.append(await window(target, name, what, attack, judge, recover, since))
            return rows
    finally:
        probe.stop()
        if rss:
            rss.stop()


# --- reporting ----------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| attack | the attacker got | /healthz max | /healthz p99 | probes failed "
        "| bystander complete | bystander p50 / max | RSS MB before / peak / end / settled "
        "| upstream calls | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        health, bystander = row["healthz"], row["bystander"]
        rss = row.get("rss_mb")
        calls = "-"
        if "upstream_bound" in row:
            total = row["upstream_calls_during"] + row["upstream_calls_after"]
            calls = f"{total} (bound {row['upstream_bound']})"
        verdicts = [c["pass"] for c in row["criteria"]]
        verdict = (
            "FAIL"
            if False in verdicts
            else ("PASS" if all(v is True for v in verdicts) else "PASS (some not measured)")
        )
        cells = [
            row["attack"],
            row.get("summary", ""),
            _duration(health["max_ms"]),
            _duration(health["p99_ms"]),
            f"{health['failed']}/{health['probes']}",
            f"{bystander['complete']}/{bystander['sent']}",
            f"{_duration(bystander['ok_p50_ms'])} / {_duration(bystander['ok_max_ms'])}",
            _rss_cell(rss) if rss else "-",
            calls,
            verdict,
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _rss_cell(rss: dict[str, Any]) -> str:
    cell = f"{rss['before']} / {rss['peak']} / {rss['after']}"
    return cell + (f" / {rss['settled']}" if "settled" in rss else "")


def verdict_lines(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        for check in row["criteria"]:
            word = {True: "PASS", False: "FAIL", None: "n/a"}[check["pass"]]
            lines.append(f"{word:>4}  {row['attack']}: {check['criterion']}: {check['value']}")
    return "\n".join(lines)


def sizes(args: argparse.Namespace) -> None:
    """Fill the sizes left unset with the defaults, or --quick's."""
    for name, (default, quick, _) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)


def raise_file_limit() -> None:
    """Attack 1 holds a thousand sockets in this process and the gateway it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    began = time.monotonic()
    extra = gateway_env(args.gateway_env)
    raise_file_limit()
    bench: Bench | None = None
    rows: list[dict[str, Any]] = []
    failure = None
    numbers = [n for n in ("1", "2", "3", "4") if not args.only or n in args.only]
    try:
        if args.url:
            base = args.url.rstrip("/").removesuffix("/graphql")
            keys = Keys(args.attacker_key, args.bystander_key, args.limited_key)
            redis_url = args.redis_url
            pids = [args.gateway_pid] if args.gateway_pid else []
            env: dict[str, str] = {}
        else:
            bench = Bench(args, stamp)
            redis_url = start_redis(bench)
            _mocks_proc, mocks = bench.start_mocks(large=False)
            keys = Keys(*(secrets.token_urlsafe(24) for _ in range(3)))
            env = {
                "GATEWAY_ALLOW_ANONYMOUS": "false",
                "GATEWAY_API_KEYS": api_keys(keys, mocks["users"][0], args.limited_rate),
                "GATEWAY_REDIS_URL": redis_url,
                "GATEWAY_RATE_LIMIT": GENEROUS_RATE_LIMIT,
            } | extra
        poll = (
            args.poll_interval or float(env.get("GATEWAY_POLL_INTERVAL", DEFAULT_POLL_INTERVAL)),
            args.poll_grace or float(env.get("GATEWAY_POLL_GRACE", DEFAULT_POLL_GRACE)),
        )
        busy = wait_quiet(args.quiet_wait)
        if busy >= 0.25:
            print(f"# machine busy ({busy:.2f} cores) before the attacks", file=sys.stderr)
        # A gateway of its own for each attack: memory one attack leaves in the process (freed
        # but not returned, or not yet collected) would hide the next one's growth.
        groups = [numbers] if bench is None or args.one_gateway else [[n] for n in numbers]
        for group in groups:
            proc: Proc | None = None
            if bench is not None:
                name = "gateway-attack-" + "-".join(group)
                # The poller flood's subscribes are what the attacker's own rate limit counts.
                rate = args.attacker_rate if "3" in group else None
                keyed = env | {
                    "GATEWAY_API_KEYS": api_keys(keys, mocks["users"][0], args.limited_rate, rate)
                }
                proc, url = bench.start_gateway(mocks, 1, name, keyed)
                base, pids = url.removesuffix("/graphql"), proc.tree()
            rows += asyncio.run(attack_all(args, base, keys, redis_url, pids, poll, group))
            if bench is not None and proc is not None:
                bench.stop(proc)
    except RuntimeError as exc:
        failure = str(exc)
        print(f"bench/run --attack: {exc}", file=sys.stderr)
    finally:
        if bench is not None:
            bench.stop_all()

    print()
    print(table(rows))
    print()
    print(verdict_lines(rows))
    result = {
        "stamp": stamp,
        "command": " ".join(["bench/run", "--attack", *sys.argv[1:]]),
        "seconds": round(time.monotonic() - began, 1),
        "machine": machine(),
        "settings": {
            "url": args.url,
            "gateway_env": extra,
            "one_gateway": bool(args.url or args.one_gateway),
            "latency_ms": args.latency_ms,
            "limited_rate": args.limited_rate,
            "poll_interval_s": poll[0],
            "poll_grace_s": poll[1],
            "quick": args.quick,
            "healthy_ms": HEALTHY_MS,
            "rss_growth_mb": RSS_GROWTH_MB,
            **{name: getattr(args, name) for name in SIZES},
        },
        "rows": rows,
        "failure": failure,
    }
    out = HERE / "results" / f"{stamp}-attack.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)} ({result['seconds']} s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--url", help="a running gateway (its base URL) instead of starting one")
    parser.add_argument("--attacker-key", help="with --url: the attacker's API key")
    parser.add_argument("--bystander-key", help="with --url: a read-all API key")
    parser.add_argument("--limited-key", help="with --url: a key limited to --limited-rate")
    parser.add_argument("--redis-url", help="with --url: the gateway's Redis (attack 4)")
    parser.add_argument("--gateway-pid", type=int, help="with --url: its process, for RSS")
    parser.add_argument(
        "--poll-interval", type=float, help="with --url: its GATEWAY_POLL_INTERVAL (5)"
    )
    parser.add_argument("--poll-grace", type=float, help="with --url: its GATEWAY_POLL_GRACE (30)")
    parser.add_argument(
        "--limited-rate", default="60/minute", help="the limited key's rateLimit (60/minute)"
    )
    parser.add_argument(
        "--attacker-rate",
        default="120/minute",
        help="the attacker's own rateLimit in attack 3 (120/minute; with --url, the one its key "
        "has, or empty for none)",
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="GATEWAY_X=VALUE",
        help="extra environment for the gateway this run starts (repeatable)",
    )
    parser.add_argument("--latency-ms", type=float, default=10.0, help="mock upstream latency")
    parser.add_argument(
        "--one-gateway",
        action="store_true",
        help="one gateway process for all the attacks (default: a fresh one for each)",
    )
    parser.add_argument("--only", nargs="*", choices=["1", "2", "3", "4"], help="default: all")
    for name, (default, quick, text) in SIZES.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=None,
            help=f"{text} ({default:g}; --quick {quick:g})",
        )
    args = parser.parse_args()
    if args.url and not (args.attacker_key and args.bystander_key):
        parser.error("--url needs --attacker-key and --bystander-key")
    if args.url and args.gateway_env:
        parser.error("--gateway-env applies to a gateway this run starts, not to --url")
    sizes(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
