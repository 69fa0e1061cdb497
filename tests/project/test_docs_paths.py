"""Every repository path the docs, docstrings and comments name exists, and every doc link lands.

Scanned: README.md and docs/*.md (docs/history/ is a record of its day, left as written), and
the Python files of app/ and resolvers/. A path is what starts with one of the repository's
top folders (`app/`, `resolvers/`, `tests/`, `bench/`, `scripts/`, `docs/`); a placeholder
(`<name>`, `*`, `…`) ends it. Paths under git-ignored folders (`bench/results/`, node_modules)
are made at run time, so they are not checked.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from tests.support.paths import ROOT as REPO

ROOT = REPO
TOPS = ("app", "resolvers", "tests", "bench", "scripts", "docs")
_PATH = re.compile(rf"(?<![\w./<-])((?:{'|'.join(TOPS)})/[\w.*/<>…-]*)")
# A path broken over two lines of a docstring, comment or paragraph: `tests/` + newline.
_WRAPPED = re.compile(r"/\n[ \t]*(?:#[ \t]*)?")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
# Paths of other projects that happen to start like ours: ory/docs' page on pagination.
OTHER_PROJECTS = {"docs/ecosystem/api-design.mdx"}


def docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def sources() -> list[Path]:
    found = []
    for top in ("app", "resolvers"):
        found += [p for p in sorted((ROOT / top).rglob("*.py")) if "node_modules" not in p.parts]
    return found


def ignored(path: str) -> bool:
    """Whether .gitignore leaves `path` out of the repository (made at run time)."""
    for line in (ROOT / ".gitignore").read_text().splitlines():
        pattern = line.strip().rstrip("/")
        if not pattern or pattern.startswith("#"):
            continue
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
        if "/" not in pattern and any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def named_paths(text: str) -> set[str]:
    """The repository paths `text` names, placeholders cut off."""
    paths = set()
    for match in _PATH.finditer(_WRAPPED.sub("/", text)):
        path = re.split(r"[*<>…]", match.group(1))[0].rstrip("./")
        if "/" in path or path in TOPS:
            paths.add(path)
    return paths


def missing_paths(file: Path) -> list[str]:
    found = named_paths(file.read_text(encoding="utf-8"))
    return sorted(
        path
        for path in found
        if path not in OTHER_PROJECTS and not ignored(path) and not (ROOT / path).exists()
    )


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(file: Path) -> set[str]:
    text = _FENCE.sub("", file.read_text(encoding="utf-8"))
    return {slug(heading) for heading in _HEADING.findall(text)}


def broken_links(file: Path) -> list[str]:
    broken = []
    text = _FENCE.sub("", file.read_text(encoding="utf-8"))
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        name, _, anchor = target.partition("#")
        landing = (file.parent / name).resolve() if name else file
        lands = landing.exists() and not (
            anchor and landing.suffix == ".md" and anchor not in anchors(landing)
        )
        if not lands:
            broken.append(target)
    return broken


@pytest.mark.parametrize("file", docs() + sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_exist(file: Path) -> None:
    missing = missing_paths(file)
    assert not missing, f"{file.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("file", docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_links_land(file: Path) -> None:
    broken = broken_links(file)
    assert not broken, f"{file.relative_to(ROOT)} links to nothing: {broken}"


def test_paths_are_found_and_checked(tmp_path: Path) -> None:
    # The patterns must keep finding paths, wrapped ones included; an empty match would make
    # the tests above pass for nothing.
    text = (
        "see app/settings.py, `tests/\n    test_docs_paths.py`, docs/<name>.md and bench/results/x"
    )
    assert named_paths(text) == {
        "app/settings.py",
        "tests/test_docs_paths.py",
        "docs",
        "bench/results/x",
    }
    assert ignored("bench/results/x")
    assert ignored("app/http/graphiql/node_modules/react")
    assert not ignored("app/settings.py")
    doc = tmp_path / "doc.md"
    doc.write_text("# A title, `with` code\n\n[here](#a-title-with-code) [gone](#nowhere)\n")
    assert broken_links(doc) == ["#nowhere"]
    assert len(named_paths((ROOT / "README.md").read_text())) >= 10


def test_readme_opens_with_the_two_commands_and_stays_short() -> None:
    # README is the way in; reference lives in docs/.
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    block = lines[lines.index("```sh") + 1 :][:2]
    assert block[0].startswith("scripts/setup && .venv/bin/session-gateway demo")
    assert block[1].startswith("scripts/test ")
    assert lines.index("```sh") < 5
