"""The peer: GraphQL Mesh compose + Hive Gateway, installed from npm into bench/peer/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from procs import Proc, start, wait_http

PEER = Path(__file__).resolve().parent / "peer"
BIN = PEER / "node_modules" / ".bin"


class PeerUnavailable(Exception):
    """The peer could not be installed, composed or started; the message says why."""


def install(timeout: float = 300.0) -> str:
    """Install bench/peer/package-lock.json's packages unless they are there; answer how."""
    if (BIN / "hive-gateway").exists() and (BIN / "mesh-compose").exists():
        return "already installed"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("node/npm are not installed")
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        done = subprocess.run(
            command, cwd=PEER, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"npm ci took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise PeerUnavailable(f"npm ci failed: {done.stderr.strip()[-800:]}")
    return "npm ci"


def environment(mocks: dict[str, Any]) -> dict[str, str]:
    """The BENCH_* variables mesh.config.ts composes from."""
    urls, credentials = mocks["urls"], mocks["credentials"]
    return {
        "BENCH_PRIVX_URL": urls["PRIVX"],
        "BENCH_PREFACTOR_URL": urls["PREFACTOR"],
        "BENCH_ZITADEL_URL": urls["ZITADEL"],
        "BENCH_HYPERID_URL": urls["HYPERID"],
        "BENCH_PRIVX_TOKEN": credentials["privx_token"],
        "BENCH_PREFACTOR_TOKEN": credentials["prefactor_token"],
        "BENCH_ZITADEL_TOKEN": credentials["zitadel_token"],
        "BENCH_HYPERID_COOKIE": credentials["hyperid_cookie"],
    }


def compose(mocks: dict[str, Any], timeout: float = 120.0) -> Path:
    """Compose the supergraph of the four mock upstreams into bench/peer/build/."""
    output = PEER / "build" / "supergraph.graphql"
    output.parent.mkdir(exist_ok=True)
    output.unlink(missing_ok=True)
    command = [str(BIN / "mesh-compose"), "-o", str(output)]
    try:
        done = subprocess.run(
            command,
            cwd=PEER,
            env={**os.environ, **environment(mocks)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"mesh-compose took longer than {timeout:.0f} s") from None
    if done.returncode != 0 or not output.exists():
        raise PeerUnavailable(f"mesh-compose failed: {(done.stderr or done.stdout)[-800:]}")
    return output


def serve(mocks: dict[str, Any], port: int, logs: Path) -> Proc:
    """Start one Hive Gateway process (no forks) on `port`, as Hive Gateway's documentation
    has it for production: `NODE_ENV=production`, and workers only when asked (the CLI does not
    fork by itself), here one against one gateway process."""
    command = [
        str(BIN / "hive-gateway"), "supergraph", "-c", "gateway.config.ts",
        "--host", "127.0.0.1", "--port", str(port), "--fork", "1",
    ]  # fmt: skip
    env = environment(mocks) | {"NODE_ENV": "production"}
    proc = start("peer", command, logs, env=env, cwd=PEER)
    try:
        wait_http(proc, f"http://127.0.0.1:{port}/healthcheck", timeout=60)
    except RuntimeError as exc:
        proc.stop()
        raise PeerUnavailable(str(exc)) from None
    return proc
