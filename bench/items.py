"""Micro-benchmark: single items of the per-user request, each with and without its shortcut.

- `filter` conversion: Strawberry's `convert_arguments` of the per-user query's arguments
  (a `filter` of four users), with the compiled converters of resolvers/engine/inputs.py and with
  Strawberry's own walk (the `from_input` hooks taken off for the measurement);
- the cursor fingerprint of that filter: kept (a lookup of the filter) and computed (JSON and
  SHA-256).

CPU µs per call, best of 5 repeats. Run as `.venv/bin/python bench/items.py [--calls 20000]`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strawberry.types.arguments import convert_arguments
from strawberry.types.base import get_object_definition

from app.core.records import Provider
from app.listing import filter as filters
from app.listing.filter import SessionFilter
from resolvers.schema import Query, schema
from resolvers.types.filters import COMPILED_INPUTS

USERS = [
    (Provider.PRIVX, "8f0c1f4e-2b9e-4b8e-9d5c-0f1e2d3c4b5a"),
    (Provider.PREFACTOR, "01hx3k9d7q2m4n6p8r0s2t4v6w"),
    (Provider.ZITADEL, "270000000000000001"),
    (Provider.HYPERID, "current"),
]


@contextlib.contextmanager
def strawberrys_own(*types: type) -> Iterator[None]:
    """Strawberry's own conversion for the input `types` while inside (their hooks taken off)."""
    definitions = [get_object_definition(kind, strict=True) for kind in types]
    hooks = [definition.from_input for definition in definitions]
    for definition in definitions:
        definition.from_input = None
    try:
        yield
    finally:
        for definition, hook in zip(definitions, hooks, strict=True):
            definition.from_input = hook


def _cpu_us(call: Callable[[], Any], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, time.process_time() - started)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    sessions = next(
        f for f in get_object_definition(Query, strict=True).fields if f.python_name == "sessions"
    )
    registry = schema.schema_converter.scalar_registry
    users = [{"provider": provider, "nativeId": native} for provider, native in USERS]
    value = {"first": 50, "filter": {"users": users}}

    def convert() -> object:
        return convert_arguments(value, sessions.arguments, registry, schema.config)

    compiled = _cpu_us(convert, args.calls)
    with strawberrys_own(*COMPILED_INPUTS):
        strawberrys = _cpu_us(convert, args.calls)

    def fresh_filter() -> SessionFilter:
        return SessionFilter(users=frozenset(USERS))

    kept = _cpu_us(lambda: fresh_filter().fingerprint(), args.calls)
    computed = _cpu_us(lambda: filters._fingerprint.__wrapped__(fresh_filter()), args.calls)
    print("| item | with the shortcut | without | the shortcut |")
    print("|---|---:|---:|---|")
    print(
        f"| `filter` conversion | {compiled:.1f} µs | {strawberrys:.1f} µs | compiled converters |"
    )
    print(f"| cursor fingerprint | {kept:.1f} µs | {computed:.1f} µs | kept per filter |")


if __name__ == "__main__":
    main()
