"""Micro-benchmark: what locations, devices and signals cost the gateway's CPU.

- `location` on a page of 100: CPU per request of `sessions(first: 100)` with and without
  `location` on each session, in one process with the mock upstreams (no added latency) and the
  demo's GeoIP databases (app/mocks/geo.py), `schema.execute` in a loop as bench/execution.py
  does; the two take turns request by request, the figure is the best of the rounds (the
  machine's noise only adds). Lookups are kept per
  address (app/geo/locator.py), so after the first request they are dictionary hits;
  `--cold` empties that cache before every request.
- devices and signals for one person with 200 sessions: `Insight.of`
  (resolvers/types/whereabouts.py: group_devices and compute_signals) over 200 sessions at five
  providers over 30 days, with the addresses and User-Agents of the generated world; CPU ms per
  call, best of 5 repeats. Reading the sessions from the upstreams is not included.
- `--rss-networks N`: how this process's RSS grows, anonymous memory and file-backed pages
  apart, on opening a City database of N networks written here and on looking up 100,000
  random addresses across it (the file is memory-mapped; answers are kept per address).

Run as `.venv/bin/python bench/locations.py [--requests 100] [--rounds 5] [--cold]
[--rss-networks 0]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core import ids
from app.core.records import Provider, SessionRecord
from app.geo import open_locator
from app.listing.cursor import CursorCodec
from app.main import client_session
from app.mocks import MockUpstreams, generate
from app.mocks.geo import DEMO_PLACES, write_city, write_databases
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.settings import Settings
from app.upstream.registry import PACKAGES
from app.upstream.upstreams import Upstreams
from resolvers.schema import Limits, build_schema
from resolvers.types.context import Context
from resolvers.types.whereabouts import Insight

PAGE = "query Page {{ sessions(first: 100) {{ nodes {{ id provider remoteAddress {extra} }} }} }}"
LOCATION = "location { city countryCode latitude longitude accuracyRadiusKm asn asOrganization }"


async def _page(requests: int, rounds: int, cold: bool, geo: dict[str, str]) -> dict[str, float]:
    async with MockUpstreams(generate()) as mocks:
        env = {
            **mocks.gateway_env(),
            **geo,
            "GATEWAY_CURSOR_SECRET": "bench",
            "GATEWAY_ALLOW_ANONYMOUS": "true",
        }
        settings = Settings.from_environ(env)
        metrics, tracing = Metrics(), Tracing(False)
        locator = open_locator(settings.geoip_city_db, settings.geoip_asn_db)
        async with client_session(settings) as session:
            upstreams = Upstreams.create(session, settings, metrics, tracing, locator=locator)
            schema = build_schema(Limits.of(settings))
            cursors = CursorCodec(b"bench")
            queries = {"without": PAGE.format(extra=""), "with": PAGE.format(extra=LOCATION)}
            times: dict[str, list[float]] = {name: [] for name in queries}
            for query in queries.values():  # warm-up: parse, validate, connections
                for _ in range(5):
                    context = Context.create(upstreams, cursors, metrics=metrics)
                    result = await schema.execute(query, context_value=context)
                    assert not result.errors, result.errors
            # The two take turns request by request, so both see the same machine; each
            # round's figure is its requests' mean, and the best round is kept.
            for _ in range(rounds):
                spent = dict.fromkeys(queries, 0.0)
                gc.collect()
                for _ in range(requests):
                    for name, query in queries.items():
                        if cold:
                            locator._cache.clear()
                        started = time.process_time()
                        context = Context.create(upstreams, cursors, metrics=metrics)
                        await schema.execute(query, context_value=context)
                        spent[name] += time.process_time() - started
                for name in queries:
                    times[name].append(spent[name] * 1000 / requests)
            return {name: min(t) for name, t in times.items()}


def _person(count: int) -> list[SessionRecord]:
    """`count` sessions of one person at five providers over 30 days, with the generated
    world's addresses and User-Agents."""
    rng = random.Random(29)
    data = generate()
    records = [
        package.parse_session(item, data.now)
        for package in PACKAGES
        for item in data.sessions(package.kind.provider.value)
    ]
    samples = [r for r in records if r.remote_address and r.user_agent]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    providers = list(Provider)[:5]
    chosen = []
    for index in range(count):
        base = rng.choice(samples)
        provider = providers[index % len(providers)]
        native = f"s{index}"
        chosen.append(
            replace(
                base,
                provider=provider,
                native_id=native,
                global_id=ids.encode(ids.SESSION, provider, native),
                created_at=start + timedelta(minutes=rng.randrange(30 * 24 * 60)),
            )
        )
    return chosen


def _insight(geo: dict[str, str], count: int, calls: int) -> tuple[float, int, int]:
    locator = open_locator(geo["GATEWAY_GEOIP_CITY_DB"], geo["GATEWAY_GEOIP_ASN_DB"])
    upstreams = replace(Upstreams.none(), locator=locator)
    # What Insight.of reads of a resolver's info: the context's upstreams.
    info: Any = SimpleNamespace(context=SimpleNamespace(upstreams=upstreams))
    records = _person(count)
    found = Insight.of(records, info)
    best = float("inf")
    for _ in range(5):
        gc.collect()
        started = time.process_time()
        for _ in range(calls):
            Insight.of(records, info)
        best = min(best, (time.process_time() - started) * 1000 / calls)
    flagged = sum(1 for signals in found.signals.values() if signals)
    return best, len(found.devices), flagged


def _rss_kib() -> tuple[int, int]:
    """(anonymous, file-backed) resident KiB of this process."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["RssAnon"].split()[0]), int(fields["RssFile"].split()[0])


def _rss(networks: int, directory: str) -> tuple[int, float, list[tuple[str, int, int]]]:
    """File bytes, seconds to write it, and (anonymous, file-backed) RSS growth in KiB after
    opening it and after 100,000 lookups of random addresses across it (the cache kept)."""
    places = []
    template = DEMO_PLACES[1]
    for index in range(networks):
        network = ipaddress.ip_network((index << 8) + (1 << 24), strict=False)
        places.append(replace(template, network=f"{network.network_address}/24", city=f"c{index}"))
    path = str(Path(directory) / "big-city.mmdb")
    started = time.monotonic()
    write_city(path, places)
    written = time.monotonic() - started
    del places
    gc.collect()
    anon, mapped = _rss_kib()
    locator = open_locator(path, None)
    grown = []
    now = _rss_kib()
    grown.append(("open", now[0] - anon, now[1] - mapped))
    rng = random.Random(1)
    for _ in range(100_000):
        locator.locate(str(ipaddress.ip_address((1 << 24) + rng.randrange(networks << 8))))
    now = _rss_kib()
    grown.append(("100,000 lookups", now[0] - anon, now[1] - mapped))
    return Path(path).stat().st_size, written, grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per round and query")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cold", action="store_true", help="empty the address cache each time")
    parser.add_argument("--sessions", type=int, default=200, help="the person's sessions")
    parser.add_argument("--rss-networks", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        geo = write_databases(directory)
        page = asyncio.run(_page(args.requests, args.rounds, args.cold, geo))
        spent, devices, flagged = _insight(geo, args.sessions, 50)
        print("| measure | CPU |")
        print("|---|---:|")
        print(f"| page of 100, without `location` | {page['without']:.2f} ms |")
        cold = " (cold)" if args.cold else ""
        print(f"| page of 100, with `location`{cold} | {page['with']:.2f} ms |")
        print(f"| `location` adds | {page['with'] - page['without']:.2f} ms |")
        print(
            f"| devices and signals, {args.sessions} sessions "
            f"({devices} devices, {flagged} flagged) | {spent:.2f} ms |"
        )
        if args.rss_networks:
            size, written, grown = _rss(args.rss_networks, directory)
            print(
                f"\nCity database of {args.rss_networks} networks, {size / 2**20:.1f} MiB "
                f"(written in {written:.0f} s); RSS growth, anonymous / file-backed:"
            )
            for step, anon, mapped in grown:
                print(f"- after {step}: +{anon / 1024:.1f} MiB / +{mapped / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
