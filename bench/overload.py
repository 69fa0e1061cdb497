"""bench/run --overload: can one caller stall the gateway? (issue 18)

Starts the mocks and one gateway process (one worker) with two API keys, an attacker's and a
bystander's, or drives a gateway already running (--url, keys as options). Then an idle window
and four attacks, one after another. During each, a thread of its own times GET /healthz every
20 ms on a fresh connection, and the bystander asks for 5 ZITADEL sessions every 200 ms. After
each: how long /healthz took to be fast again, then /readyz and the circuits. A markdown table
goes to stdout, the whole run to bench/results/<timestamp>-overload.json. See
docs/performance.md, "Overload".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import itertools
import json
import re
import resource
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp
import queries
from harness import HERE, ROOT, Bench, machine
from load import percentile
from procs import Proc, wait_quiet

PROBE_INTERVAL = 0.02
BYSTANDER_INTERVAL = 0.2
# No request of the bench waits longer; an attack's drain is bounded by it.
REQUEST_TIMEOUT = 60.0
# /healthz is "fast again" once it answers within this; recovery is given up after the limit.
HEALTHY = 0.1
RECOVERY_LIMIT = 180.0

BYSTANDER_QUERY = (
    "query Bystander { sessions(first: 5, filter: {providers: [ZITADEL]}) { nodes { id } } }"
)
BYSTANDER_NODES = 5
PROVIDERS_QUERY = "query Providers { providers { provider health circuit lastErrorCode } }"
_CIRCUIT = re.compile(r'^gateway_circuit_state\{provider="([^"]+)"\} (\S+)$', re.MULTILINE)
_CIRCUIT_STATES = {0: "closed", 1: "half-open", 2: "open"}
SIZES = (
    "idle_seconds", "seconds", "heavy_seconds", "fanout_levels", "fanout_concurrency", "repeat",
    "repeat_concurrency", "aliases", "aliases_concurrency", "heavy_concurrency",
)  # fmt: skip


# --- the attacks' documents -----------------------------------------------------------


def fragment_fanout(levels: int, tag: int) -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice, ...: 2**levels paths to the last fragment."""
    spreads = [f"fragment F{i} on Session {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    leaf = f"fragment F{levels} on Session {{ id provider createdAt status }}"
    operation = f"query FanOut{tag} {{ sessions(first: 1) {{ nodes {{ ...F0 }} }} }}"
    return " ".join([operation, *spreads, leaf])


def repeated_field(count: int, tag: int) -> str:
    """One field selected `count` times over; the operation name keeps each text new."""
    fields = " ".join(["id"] * count)
    return f"query Repeat{tag} {{ sessions(first: 1) {{ nodes {{ {fields} }} }} }}"


def aliased_misses(aliases: int) -> str:
    """`aliases` listings whose user-agent filter matches nothing, so each reads every page."""
    parts = [
        f'a{i}: sessions(first: 1, filter: {{userAgent: "no-such-agent-{secrets.token_hex(6)}"}})'
        " { totalCount nodes { id } }"
        for i in range(aliases)
    ]
    return "query Misses { " + " ".join(parts) + " }"


def _body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


@dataclass(frozen=True)
class Attack:
    """`concurrency` attacker requests kept in flight for `seconds`; `body(n)` is request n's."""

    name: str
    what: str
    concurrency: int
    seconds: float
    body: Callable[[int], bytes]


def attacks(args: argparse.Namespace) -> list[Attack]:
    """The idle window, then issue 18's four attacks, as `args` sizes them."""
    heavy = _body(queries.FULL_PAGE_QUERY, {"after": None})
    return [
        Attack("idle", "no attacker: the reference", 0, args.idle_seconds, lambda n: b""),
        Attack(
            "1 fragment fan-out",
            f"{args.fanout_levels} levels of fragments each spreading the next twice, "
            f"under sessions(first: 1) {{ nodes }}, {args.fanout_concurrency} in flight",
            args.fanout_concurrency,
            args.seconds,
            lambda n: _body(fragment_fanout(args.fanout_levels, n)),
        ),
        Attack(
            "2 repeated field",
            f"sessions(first: 1) {{ nodes {{ id x {args.repeat} }} }}, a new operation name each "
            f"time, {args.repeat_concurrency} in flight",
            args.repeat_concurrency,
            args.seconds,
            lambda n: _body(repeated_field(args.repeat, n)),
        ),
        Attack(
            "3 aliased misses",
            f"{args.aliases} aliases of sessions(first: 1, filter: {{userAgent: <no match>}}) "
            f"{{ totalCount nodes {{ id }} }}, {args.aliases_concurrency} in flight",
            args.aliases_concurrency,
            args.seconds,
            lambda n: _body(aliased_misses(args.aliases)),
        ),
        Attack(
            "4 heavy pages",
            f"FULL_PAGE_QUERY (sessions(first: 100), every field), {args.heavy_concurrency} in "
            "flight",
            args.heavy_concurrency,
            args.heavy_seconds,
            lambda n: heavy,
        ),
    ]


# --- measuring ----------------------------------------------------------------------


class Sample(NamedTuple):
    sent: float
    seconds: float
    ok: bool


class HealthProbe:
    """GET /healthz every `interval` s on a fresh connection, from a thread of its own, so the
    bench's event loop, busy with an attack's answers, does not delay the probes."""

    def __init__(self, base: str, interval: float = PROBE_INTERVAL) -> None:
        parts = urlsplit(base)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-probe", daemon=True)
        self.samples: list[Sample] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.sent < end]

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            ok = self._probe()
            seconds = time.monotonic() - sent
            self.samples.append(Sample(sent, seconds, ok))
            self._stop.wait(max(0.0, self._interval - seconds))

    def _probe(self) -> bool:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()


@dataclass
class Tally:
    """One caller's requests by outcome, and the latency of those answered with data."""

    expect_nodes: int | None = None  # the bystander's: an answer is complete with this many
    sent: int = 0
    ok: int = 0  # HTTP 200 with data
    partial: int = 0  # ... and errors beside it
    partial_codes: Counter[str] = field(default_factory=Counter)
    complete: int = 0
    shed: int = 0  # HTTP 503 or 429
    other: Counter[str] = field(default_factory=Counter)
    ok_seconds: list[float] = field(default_factory=list)

    def record(self, status: int, raw: bytes, seconds: float) -> None:
        if status in (429, 503):
            self.shed += 1
            return
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            self.other[f"HTTP {status}, not JSON"] += 1
            return
        errors = answer.get("errors") or []
        codes = "/".join(sorted({str(e.get("extensions", {}).get("code")) for e in errors}))
        if status != 200 or answer.get("data") is None:
            self.other[f"HTTP {status} {codes or 'no errors'}"] += 1
            return
        self.ok += 1
        self.ok_seconds.append(seconds)
        if errors:
            self.partial += 1
            self.partial_codes[codes] += 1
        elif self.expect_nodes is not None:
            nodes = answer["data"]["sessions"]["nodes"]
            self.complete += len(nodes) == self.expect_nodes

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.ok_seconds)
        figures: dict[str, Any] = {
            "sent": self.sent,
            "ok": self.ok,
            "partial": self.partial,
            "partial_by_codes": dict(self.partial_codes.most_common()),
            "shed": self.shed,
            "other": sum(self.other.values()),
            "other_by_kind": dict(self.other.most_common()),
            "ok_p50_ms": _ms(percentile(ordered, 0.50)) if ordered else None,
            "ok_p99_ms": _ms(percentile(ordered, 0.99)) if ordered else None,
            "ok_max_ms": _ms(ordered[-1]) if ordered else None,
        }
        if self.expect_nodes is not None:
            figures["complete"] = self.complete
        return figures


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def send(session: aiohttp.ClientSession, url: str, body: bytes, tally: Tally) -> None:
    """POST one GraphQL request and count its outcome."""
    tally.sent += 1
    began = time.monotonic()
    try:
        async with session.post(url, data=body) as response:
            raw = await response.read()
    except TimeoutError:
        tally.other["client timeout"] += 1
        return
    except aiohttp.ClientError as exc:
        tally.other[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        return
    tally.record(response.status, raw, time.monotonic() - began)


async def attack_load(
    session: aiohttp.ClientSession, url: str, attack: Attack, tally: Tally
) -> None:
    """Closed loop: `attack.concurrency` workers send until the window ends, then drain."""
    stop_at = time.monotonic() + attack.seconds
    numbers = itertools.count()

    async def worker() -> None:
        while time.monotonic() < stop_at:
            await send(session, url, attack.body(next(numbers)), tally)

    if attack.concurrency:
        await asyncio.gather(*(worker() for _ in range(attack.concurrency)))
    else:
        await asyncio.sleep(attack.seconds)


async def bystander_load(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, tally: Tally
) -> None:
    """Open loop: one small query every BYSTANDER_INTERVAL s, however long the answers take."""
    body = _body(BYSTANDER_QUERY)
    pending: set[asyncio.Task[None]] = set()
    next_at = time.monotonic()
    while not stop.is_set():
        task = asyncio.create_task(send(session, url, body, tally))
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += BYSTANDER_INTERVAL
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
    if pending:
        await asyncio.gather(*pending)


async def recovery(probe: HealthProbe, since: float) -> float | None:
    """Seconds from `since` until a /healthz sent after it answered within HEALTHY s."""
    deadline = since + RECOVERY_LIMIT
    start = len(probe.samples)  # the samples list only grows
    while time.monotonic() < deadline:
        for sample in probe.samples[start:]:
            if sample.sent >= since and sample.ok and sample.seconds < HEALTHY:
                return round(sample.sent + sample.seconds - since, 2)
        await asyncio.sleep(0.05)
    return None


def health_figures(samples: list[Sample]) -> dict[str, Any]:
    ordered = sorted(s.seconds for s in samples)
    return {
        "probes": len(samples),
        "failed": sum(not s.ok for s in samples),
        "p50_ms": _ms(percentile(ordered, 0.50)),
        "p99_ms": _ms(percentile(ordered, 0.99)),
        "max_ms": _ms(ordered[-1]) if ordered else None,
        "over_1s": sum(s > 1.0 for s in ordered),
    }


@dataclass
class Target:
    """The gateway under attack: where it listens, the two callers, its process if ours."""

    base: str
    attacker: aiohttp.ClientSession
    bystander: aiohttp.ClientSession
    probe: HealthProbe
    proc: Proc | None

    @property
    def graphql(self) -> str:
        return f"{self.base}/graphql"


async def afterwards(target: Target) -> dict[str, Any]:
    """/readyz, the circuits from /metrics, and the `providers` query, once an attack is over."""
    result: dict[str, Any] = {}
    session = target.bystander
    began = time.monotonic()
    try:
        async with session.get(f"{target.base}/readyz") as response:
            body = await response.json(content_type=None)
            result["readyz"] = {
                "status": response.status,
                "ms": _ms(time.monotonic() - began),
                "providers": {
                    name: bool(p.get("ready")) for name, p in body.get("providers", {}).items()
                },
            }
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        result["readyz"] = {"status": None, "error": type(exc).__name__}
    try:
        async with session.get(f"{target.base}/metrics") as response:
            text = await response.text()
        result["circuits"] = {
            provider: _CIRCUIT_STATES.get(int(float(value)), value)
            for provider, value in _CIRCUIT.findall(text)
        }
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        result["circuits"] = {"error": type(exc).__name__}
    try:
        async with session.post(target.graphql, data=_body(PROVIDERS_QUERY)) as response:
            answer = await response.json(content_type=None)
        result["providers"] = (answer.get("data") or {}).get("providers") or answer.get("errors")
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        result["providers"] = {"error": type(exc).__name__}
    return result


async def run_attack(target: Target, attack: Attack) -> dict[str, Any]:
    """One attack with the bystander beside it; the figures of the whole window, recovery in."""
    print(f"# {attack.name}: {attack.what}", file=sys.stderr, flush=True)
    attacker, bystander = Tally(), Tally(expect_nodes=BYSTANDER_NODES)
    gateway_cpu = target.proc.cpu_seconds() if target.proc else None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    stop_bystander = asyncio.Event()
    beside = asyncio.create_task(
        bystander_load(target.bystander, target.graphql, stop_bystander, bystander)
    )
    capped = False
    try:
        async with asyncio.timeout(attack.seconds + REQUEST_TIMEOUT + 30):
            await attack_load(target.attacker, target.graphql, attack, attacker)
    except TimeoutError:
        capped = True
    drained = time.monotonic()
    stop_bystander.set()
    recovered = await recovery(target.probe, drained)
    await beside
    ended = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_SELF)
    row: dict[str, Any] = {
        "attack": attack.name,
        "what": attack.what,
        "seconds": round(ended - began, 1),
        "attack_seconds": round(drained - began, 1),
        "capped": capped,
        "recovery_s": recovered,
        "healthz": health_figures(target.probe.between(began, ended)),
        "attacker": attacker.figures(),
        "bystander": bystander.figures(),
        "bench_cpu_s": round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 2),
    }
    if target.proc and gateway_cpu is not None:
        row["gateway_cpu_s"] = round(target.proc.cpu_seconds() - gateway_cpu, 2)
        row["gateway_rss_mb"] = round(target.proc.rss_bytes() / 1024 / 1024, 1)
    return row


async def run_all(
    base: str, keys: tuple[str, str], plan: list[Attack], pause: float, proc: Proc | None
) -> list[dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    json_type = {"Content-Type": "application/json"}
    probe = HealthProbe(base)
    probe.start()
    try:
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=timeout,
                headers=json_type | {"X-API-Key": keys[0]},
            ) as attacker,
            aiohttp.ClientSession(
                timeout=timeout, headers=json_type | {"X-API-Key": keys[1]}
            ) as bystander,
        ):
            target = Target(base, attacker, bystander, probe, proc)
            await check_callers(target)
            rows = []
            for attack in plan:
                row = await run_attack(target, attack)
                await asyncio.sleep(pause)
                row |= await afterwards(target)
                rows.append(row)
                print(json.dumps(_brief(row)), flush=True)
            return rows
    finally:
        probe.stop()


async def check_callers(target: Target) -> None:
    """Both keys work and the bystander's query is complete on an idle gateway."""
    for name, session in (("attacker", target.attacker), ("bystander", target.bystander)):
        tally = Tally(expect_nodes=BYSTANDER_NODES)
        await send(session, target.graphql, _body(BYSTANDER_QUERY), tally)
        if tally.complete != 1:
            raise RuntimeError(f"the {name} key's check query failed: {tally.figures()}")


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its longer parts, for the progress line."""
    return {k: v for k, v in row.items() if k not in ("what", "providers")}


# --- reporting ----------------------------------------------------------------------


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| attack | /healthz max | /healthz p99 | sent | 200 + data (partial) | shed | other "
        "| accepted p50 | accepted p99 | bystander complete | bystander p50 / max "
        "| recovery | /readyz after | circuits open |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        attacker, bystander, health = row["attacker"], row["bystander"], row["healthz"]
        circuits = row.get("circuits", {})
        opened = [p for p, state in circuits.items() if state != "closed"]
        idle = row["attack"] == "idle"
        if idle:
            sent = ok = shed = other = accepted50 = accepted99 = "-"
        else:
            sent, shed, other = attacker["sent"], attacker["shed"], attacker["other"]
            ok = f"{attacker['ok']} ({attacker['partial']})"
            accepted50 = _duration(attacker["ok_p50_ms"])
            accepted99 = _duration(attacker["ok_p99_ms"])
        cells = [
            row["attack"],
            _duration(health["max_ms"]),
            _duration(health["p99_ms"]),
            sent,
            ok,
            shed,
            other,
            accepted50,
            accepted99,
            f"{bystander['complete']}/{bystander['sent']}",
            f"{_duration(bystander['ok_p50_ms'])} / {_duration(bystander['ok_max_ms'])}",
            "-" if idle or row["recovery_s"] is None else f"{row['recovery_s']} s",
            str(row.get("readyz", {}).get("status")),
            ", ".join(f"{p} {circuits[p]}" for p in opened) or "none",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def others(rows: list[dict[str, Any]]) -> str:
    """What the `other` answers were, and the error codes of partial ones, attack by attack."""
    lines = []
    for row in rows:
        for who in ("attacker", "bystander"):
            for what, kinds in (
                ("other", row[who]["other_by_kind"]),
                ("partial", row[who]["partial_by_codes"]),
            ):
                if kinds:
                    listed = ", ".join(f"{kind}: {n}" for kind, n in kinds.items())
                    lines.append(f"- {row['attack']}, {who}, {what}: {listed}")
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------


def api_keys(attacker: str, bystander: str) -> str:
    """GATEWAY_API_KEYS for the two callers, as digests; both may read every session."""
    return json.dumps(
        [
            {"name": name, "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
             "scopes": ["sessions:read:all"]}
            for name, key in (("attacker", attacker), ("bystander", bystander))
        ]
    )  # fmt: skip


def gateway_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("GATEWAY_"):
            raise SystemExit(f"--gateway-env wants GATEWAY_NAME=VALUE, not {pair!r}")
        env[key] = value
    return env


def run(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    plan = [a for a in attacks(args) if not args.only or a.name.split()[0] in args.only]
    began = time.monotonic()
    extra = gateway_env(args.gateway_env)
    bench: Bench | None = None
    try:
        if args.url:
            base = args.url.rstrip("/").removesuffix("/graphql")
            keys = (args.attacker_key, args.bystander_key)
            proc = None
        else:
            bench = Bench(args, stamp)
            _mocks_proc, mocks = bench.start_mocks(large=False)
            keys = (secrets.token_urlsafe(24), secrets.token_urlsafe(24))
            env = {"GATEWAY_ALLOW_ANONYMOUS": "false", "GATEWAY_API_KEYS": api_keys(*keys)}
            proc, url = bench.start_gateway(mocks, 1, "gateway-overload", env | extra)
            base = url.removesuffix("/graphql")
        busy = wait_quiet(args.quiet_wait)
        if busy >= 0.25:
            print(f"# machine busy ({busy:.2f} cores) before the attacks", file=sys.stderr)
        rows = asyncio.run(run_all(base, keys, plan, args.pause, proc))
    except RuntimeError as exc:
        print(f"bench/run --overload: {exc}", file=sys.stderr)
        return 1
    finally:
        if bench is not None:
            bench.stop_all()

    print()
    print(table(rows))
    listed = others(rows)
    if listed:
        print("\nother and partial answers:\n" + listed)
    result = {
        "stamp": stamp,
        "command": " ".join(["bench/run", "--overload", *sys.argv[1:]]),
        "seconds": round(time.monotonic() - began, 1),
        "machine": machine(),
        "settings": {
            "url": args.url,
            "gateway_env": extra,
            "latency_ms": args.latency_ms,
            "probe_interval_ms": PROBE_INTERVAL * 1000,
            "bystander_interval_ms": BYSTANDER_INTERVAL * 1000,
            "request_timeout_s": REQUEST_TIMEOUT,
            "pause_s": args.pause,
            # The attacks' sizes; the keys themselves are left out.
            **{name: getattr(args, name) for name in SIZES},
        },
        "rows": rows,
    }
    out = HERE / "results" / f"{stamp}-overload.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)} ({result['seconds']} s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running gateway (its base URL) instead of starting one")
    parser.add_argument("--attacker-key", help="with --url: the attacker's API key")
    parser.add_argument("--bystander-key", help="with --url: the bystander's API key")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="GATEWAY_X=VALUE",
        help="extra environment for the gateway this run starts (repeatable)",
    )
    parser.add_argument("--latency-ms", type=float, default=10.0, help="mock upstream latency")
    parser.add_argument("--only", nargs="*", help="idle 1 2 3 4 (default: all)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait for other work on the machine to stop before the attacks",
    )
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="window of attacks 1-3")
    parser.add_argument("--heavy-seconds", type=float, default=10.0, help="window of attack 4")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between attacks")
    parser.add_argument("--fanout-levels", type=int, default=20)
    parser.add_argument("--fanout-concurrency", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=700)
    parser.add_argument("--repeat-concurrency", type=int, default=8)
    parser.add_argument("--aliases", type=int, default=12)
    parser.add_argument("--aliases-concurrency", type=int, default=4)
    parser.add_argument("--heavy-concurrency", type=int, default=200)
    args = parser.parse_args()
    if args.url and not (args.attacker_key and args.bystander_key):
        parser.error("--url needs --attacker-key and --bystander-key")
    if args.url and args.gateway_env:
        parser.error("--gateway-env applies to a gateway this run starts, not to --url")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
