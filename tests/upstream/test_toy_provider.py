"""A sixth provider needs no edit under app/ or resolvers/: tests/upstream/toy_provider.py,
installed through an entry point, passes the cross-provider contract of
tests/upstream/toy_contract.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT as REPO

ROOT = REPO


def test_an_installed_toy_provider_passes_the_contract(tmp_path: Path) -> None:
    # What `pip install` of a package declaring the entry point leaves on the path.
    info = tmp_path / "toy_provider-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-provider\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[session_gateway.providers]\ntoy = tests.upstream.toy_provider:PACKAGE\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, "tests/upstream/toy_contract.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipped" not in run.stdout, run.stdout
