"""Print the part of requirements.lock the gateway needs at run time, pins and hashes unchanged.

requirements.lock also pins the test tools (pytest, mypy, Playwright with its Node driver...).
The image installs only the closure of pyproject.toml's `dependencies`, as this platform and
Python evaluate their markers, read from the lock's own pins: the wheels' metadata as installed
in the virtualenv that scripts/setup made from the same lock. Run with that venv's Python:

    .venv/bin/python deploy/runtime_lock.py > runtime.lock
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str]) -> set[str]:
    """The normalized names of `roots` and everything they need, extras included."""
    extras: dict[str, set[str]] = {}
    todo = [Requirement(text) for text in roots]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = normalized(requirement.name)
        wanted = set(requirement.extras)
        if name in extras and wanted <= extras[name]:
            continue
        extras[name] = extras.get(name, set()) | wanted
        for text in importlib.metadata.distribution(name).requires or []:
            needed = Requirement(text)
            marker = needed.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras[name] | {""}):
                todo.append(Requirement(str(needed).split(";")[0]))
    return set(extras)


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = closure(project["dependencies"])
    lock = (ROOT / "requirements.lock").read_text()
    # One entry: its `name==version [; marker] \` line and the `--hash` lines under it.
    pattern = r"^([A-Za-z0-9][A-Za-z0-9._-]*)==[^\n]*\\\n(?: +--hash=\S+(?: \\)?\n)+"
    found = {normalized(m[1]): m[0].rstrip() for m in re.finditer(pattern, lock, re.M)}
    missing = sorted(names - found.keys())
    if missing:
        print(f"requirements.lock pins no {', '.join(missing)}", file=sys.stderr)
        return 1
    print("# The run-time part of requirements.lock (deploy/runtime_lock.py).")
    for name in sorted(names):
        print(found[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
