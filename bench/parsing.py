"""Micro-benchmark: decode + parse of upstream JSON into records, in µs per record.

Payloads are the mock upstreams' own answers (same data generator, same envelopes, serialised
with json.dumps as aiohttp's `web.json_response` does). Each provider's page goes through the
adapter exactly as Endpoint.call does it: `decode` (status checks, JSON) then the parser.
Run as `.venv/bin/python bench/parsing.py`; prints the best of 5 timings per provider.
`--cpu` times this thread's CPU time instead of the wall clock (steadier on a shared VM);
`--cold` forgets the global ids made so far before each page, as if every session were new.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core import ids
from app.mocks import generate
from app.mocks.prefactor.server import pagination
from app.mocks.timestamps import wcf_date
from app.upstream.calls.decoding import decode
from app.upstream.providers.hyperid import provider as hyperid
from app.upstream.providers.prefactor import provider as prefactor
from app.upstream.providers.privx import provider as privx
from app.upstream.providers.zitadel import provider as zitadel

PAGE = 100  # the gateway's largest page; PrivX full listings are longer still


def _wcf(value: Any) -> Any:
    """hyper.id's `/Date(ms)/` style, as the mock renders it with date_style="wcf"."""
    if isinstance(value, list):
        return [_wcf(item) for item in value]
    if isinstance(value, dict):
        dates = {"creationTime", "expirationTime"}
        return {k: wcf_date(v) if k in dates else _wcf(v) for k, v in value.items()}
    return value


def payloads() -> dict[str, tuple[bytes, Callable[[Any], Any], int]]:
    """Per provider: the response body, the adapter's parser and the number of records."""
    data = generate(privx_sessions=PAGE, prefactor_sessions=PAGE, zitadel_sessions=PAGE)
    zitadel_details = {"totalResult": str(PAGE), "processedSequence": "812", "timestamp": "x"}
    hyperid_body = {
        "sessions": data.hyperid_sessions,
        "appAuthorizations": data.hyperid_app_authorizations,
    }
    hyperid_count = len(data.hyperid_sessions) + len(data.hyperid_app_authorizations)
    bodies: dict[str, tuple[Any, Callable[[Any], Any], int]] = {
        "privx": ({"count": PAGE, "items": data.privx}, privx._parse_envelope, PAGE),
        "prefactor": (
            {
                "status": "success",
                "summaries": data.prefactor,
                "pagination": pagination(PAGE, 0, PAGE, PAGE),
                "sorting": None,
            },
            prefactor._parse_list,
            PAGE,
        ),
        "zitadel": (
            {"details": zitadel_details, "sessions": data.zitadel},
            zitadel._parse_search,
            PAGE,
        ),
        "hyperid": (hyperid_body, hyperid._parse_list, hyperid_count),
        "hyperid-wcf": (_wcf(hyperid_body), hyperid._parse_list, hyperid_count),
    }
    return {
        name: (json.dumps(body).encode(), parse, n) for name, (body, parse, n) in bodies.items()
    }


def per_record(
    body: bytes,
    parse: Callable[[Any], Any],
    records: int,
    seconds: float,
    clock: Callable[[], float],
    before: Callable[[], object],
) -> float:
    """Best of 5 runs of about `seconds` each, in microseconds per record."""

    def run(loops: int) -> float:
        started = clock()
        for _ in range(loops):
            before()
            parse(decode("bench", 200, body))
        return clock() - started

    loops = 1
    while (took := run(loops)) < seconds / 10:  # calibrate: runs of about `seconds`
        loops *= 4
    loops = max(1, int(loops * seconds / took))
    return min(run(loops) for _ in range(5)) / loops / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="length of one timed run")
    parser.add_argument("--cpu", action="store_true", help="time CPU, not the wall clock")
    parser.add_argument("--cold", action="store_true", help="no global id made before")
    args = parser.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    cache = getattr(ids, "_encode", None)  # absent before the cache was added
    before = cache.cache_clear if args.cold and cache is not None else (lambda: None)
    bodies = payloads()
    # As the gateway does after start-up: collections then walk only what parsing leaves.
    gc.collect()
    gc.freeze()
    for name, (body, parse, records) in bodies.items():
        micros = per_record(body, parse, records, args.seconds, clock, before)
        print(f"{name:12} {micros:7.2f} µs/record  ({records} records, {len(body)} bytes)")


if __name__ == "__main__":
    main()
