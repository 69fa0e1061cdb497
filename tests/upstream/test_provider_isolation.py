"""A provider is one package: no code outside it names it or imports it (but the registry)."""

from __future__ import annotations

import re
from pathlib import Path

from app.core.records import Provider
from app.upstream.registry import PROVIDERS
from tests.support.paths import ROOT

# Where naming providers is the point: the registry, the enum, and the mock upstreams.
ALLOWED = {Path("app/upstream/registry.py"), Path("app/core/records.py")}


def _code_files() -> list[Path]:
    files = [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("resolvers").rglob("*.py")]
    return [
        f.relative_to(ROOT)
        for f in files
        if "mocks" not in f.parts and "node_modules" not in f.parts
    ]


def test_every_provider_is_registered() -> None:
    assert {kind.provider for kind in PROVIDERS} == set(Provider)


def test_no_code_outside_a_provider_module_names_or_imports_it() -> None:
    packages = {kind.provider: Path(*kind.__module__.split(".")[:-1]) for kind in PROVIDERS}
    offences = []
    for provider, own in packages.items():
        name = own.name
        names_it = re.compile(
            rf"Provider\.{provider.value}\b"
            rf"|app\.upstream\.providers\.{name}\b"
            rf"|from app\.upstream\.providers import .*\b{name}\b"
        )
        for path in _code_files():
            if path in ALLOWED or own in path.parents:
                continue
            for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
                if names_it.search(line):
                    offences.append(f"{path}:{number}: {line.strip()}")
    assert offences == []
