"""pyproject.toml declares every package the code imports, and requirements.lock fits it."""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# scripts/check-deps points this at the candidate lock it is testing.
LOCK = Path(os.environ.get("CHECK_DEPS_LOCK", ROOT / "requirements.lock"))


def _requirements(*extras: str) -> list[Requirement]:
    declared = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        declared += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return declared


def _python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "node_modules" not in path.parts:
                yield path


def _imported_modules(paths: Iterable[Path]) -> dict[str, Path]:
    """Every absolute import, dotted (`from a import b` counts `a` and `a.b`), with a file."""
    modules: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update((alias.name, path) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules[node.module] = path
                modules.update((f"{node.module}.{alias.name}", path) for alias in node.names)
    return modules


def _providers(module: str) -> set[str]:
    """The distributions that install `module`; a namespace package is looked at one level down."""
    top, _, rest = module.partition(".")
    candidates = _top_level_providers().get(top, [])
    if len(candidates) > 1 and rest:
        # opentelemetry is shared: opentelemetry.trace is the API's, opentelemetry.sdk the SDK's.
        prefix = f"{top}/{rest.split('.')[0]}"
        owners = [
            name
            for name in candidates
            if any(str(file).startswith((f"{prefix}/", f"{prefix}.")) for file in _files(name))
        ]
        candidates = owners or candidates
    return {canonicalize_name(name) for name in candidates}


@cache
def _top_level_providers() -> Mapping[str, list[str]]:
    return packages_distributions()


@cache
def _files(name: str) -> list[Path]:
    return [Path(file) for file in distribution(name).files or []]


@pytest.mark.parametrize(
    ("folders", "extras", "first_party"),
    [
        # app/observability/tracing.py imports opentelemetry only with GATEWAY_TRACING: the
        # tracing extra.
        pytest.param(("app", "resolvers"), ("tracing",), {"app", "resolvers"}, id="app"),
        pytest.param(("tests",), ("test",), {"app", "resolvers", "tests"}, id="tests"),
        # bench/run runs in .venv next to the tests; its modules import each other by name.
        pytest.param(
            ("bench",),
            ("test",),
            {"app", "resolvers", "bench", *(p.stem for p in (ROOT / "bench").glob("*.py"))},
            id="bench",
        ),
    ],
)
def test_imported_packages_are_declared(
    folders: tuple[str, ...], extras: tuple[str, ...], first_party: set[str]
) -> None:
    declared = {canonicalize_name(r.name) for r in _requirements(*extras)}
    undeclared: dict[str, str] = {}
    for module, path in sorted(_imported_modules(_python_files(*folders)).items()):
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names or top in first_party:
            continue
        providers = _providers(module)
        if not providers & declared:
            needed = " or ".join(sorted(providers)) or "(no installed distribution)"
            undeclared.setdefault(needed, f"{module} in {path.relative_to(ROOT)}")

    where = " + ".join(["dependencies", *extras])
    assert undeclared == {}, f"imported, not declared in pyproject.toml ({where})"


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", LOCK.read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def test_lock_pins_every_declared_requirement_within_its_range() -> None:
    locked = _locked()
    misfits = set()
    for extra in ("", *PROJECT["optional-dependencies"]):
        for requirement in _requirements(*[extra] if extra else []):
            if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
                continue
            version = locked.get(canonicalize_name(requirement.name))
            if version is None or not requirement.specifier.contains(version, prereleases=True):
                misfits.add(f"{requirement} (locked: {version})")

    assert misfits == set(), "requirements.lock is stale: run scripts/check-deps --keep --write"
