"""The clients frontend teams use, against the live gateway: Apollo Client 4, urql with
graphcache, GraphQL Code Generator and tsc, all npm-pinned in tests/node/clients (installed by
scripts/setup-node). The configuration they run is the one docs/clients.md quotes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import LiveStack
from tests.support.paths import ROOT
from tests.support.people import active_person, people_stack

pytestmark = pytest.mark.server

CLIENTS = ROOT / "tests" / "node" / "clients"
DOCS = ROOT / "docs" / "clients.md"
# Every file docs/clients.md shows in full, as the tests run it.
QUOTED = ("apollo-config.mjs", "urql-config.mjs", "codegen.ts", "typed/usage.ts")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`session-gateway export-schema` and `export-schema --possible-types`, as files."""
    if not (CLIENTS / "node_modules").is_dir():
        pytest.fail("tests/node/clients/node_modules is missing: run scripts/setup-node")
    folder = tmp_path_factory.mktemp("exported")
    files = []
    for name, extra in (("schema.graphql", []), ("possible-types.json", ["--possible-types"])):
        command = [sys.executable, "-m", "app.cli", "export-schema", *extra]
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        (folder / name).write_text(output.stdout)
        files.append(folder / name)
    return files[0], files[1]


def _node(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The development condition: Apollo Client 4 prints its cache warnings only in that build.
    return subprocess.run(
        ["node", "--conditions=development", *args],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("client", ["apollo", "urql"])
def test_the_client_pages_revokes_and_its_cache_follows(
    client: str, exported: tuple[Path, Path]
) -> None:
    schema, possible_types = exported
    with LiveStack() as live:  # one stack each: the scenario revokes sessions
        run = _node(f"{client}.mjs", live.url, str(possible_types), str(schema))
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["client"] == client
    assert report["ok"] is True
    # Two list pages each for two caches, an extra field, two revokes, and the ACTIVE list
    # fetched three times; `node(id:)` of a cached session costs nothing.
    assert report["requests"] == 10


def test_possible_types_lists_every_abstract_type(exported: tuple[Path, Path]) -> None:
    possible = json.loads(exported[1].read_text())
    assert possible["Node"] == ["Person", "Session", "SessionUser"]
    assert possible["RevokeSessionResult"] == ["RevokeRefused", "SessionNotFound", "SessionRevoked"]
    assert len(possible["SessionExtras"]) == 5


def test_codegen_types_date_time_as_string_and_tsc_accepts_the_usage(
    exported: tuple[Path, Path],
) -> None:
    schema, _ = exported
    generated = CLIENTS / "typed" / "generated.ts"
    generated.unlink(missing_ok=True)
    codegen = subprocess.run(
        ["node", "node_modules/@graphql-codegen/cli/cjs/bin.js", "--config", "codegen.ts"],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GATEWAY_SCHEMA": str(schema)},
    )
    assert codegen.returncode == 0, codegen.stdout[-2000:] + codegen.stderr[-2000:]
    assert re.search(r"createdAt: string,", generated.read_text())

    tsc = subprocess.run(
        ["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.json"],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tsc.returncode == 0, tsc.stdout[-2000:]


def test_the_docs_quote_the_configuration_the_tests_run() -> None:
    blocks = re.findall(r"```(?:js|ts)\n(.*?)```", DOCS.read_text(), re.DOTALL)
    by_file = {}
    for block in blocks:
        first = block.split("\n", 1)[0]
        match = re.match(r"// tests/node/clients/(\S+?):", first)
        if match:
            by_file[match.group(1)] = block
    for name in QUOTED:
        assert name in by_file, f"docs/clients.md does not show {name}"
        assert by_file[name] == (CLIENTS / name).read_text(), f"docs/clients.md differs from {name}"


@pytest.mark.parametrize("client", ["apollo", "urql"])
def test_the_account_page_signs_out_other_sessions_and_its_cache_follows(
    client: str, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    schema, possible_types = exported
    with people_stack(tmp_path) as people:  # one stack each: the page signs sessions out
        person, current = active_person(people)
        token = people.token(person, current)
        run = _node("account.mjs", people.url, str(possible_types), str(schema), client, token)
        left = [r for r in people.sessions(person) if r.status.value in {"ACTIVE", "PENDING"}]
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"client": client, "ok": True, "requests": 2}
    # At every provider, the mocks hold the current session alone open.
    assert [r.global_id for r in left] == [current.global_id]
