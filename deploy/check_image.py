"""Check a built image (scripts/check-image runs this): its configuration, its size, and that the
gateway in it serves /healthz, /readyz and a query against the built-in mock upstreams.

The image's own root file system, mounted read-only with a tmpfs on /tmp, runs its entrypoint
under `chroot` as the image's user, with the image's environment: this machine cannot start
containers (rootful podman fails in setrlimit), so chroot stands in for the runtime. The
caller (scripts/check-image) has made a private network namespace with its own loopback, so
port 8000 is this check's alone; the mock upstreams run in this process, on that loopback.

    python deploy/check_image.py ROOT CONFIG_JSON SIZE_BYTES
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from app.mocks import MockUpstreams

PORT = 8000
SIZE_LIMIT = 150 * 1000 * 1000
QUERY = "{ sessions(first: 50) { edges { node { id provider } } } }"
LABELS = ("title", "description", "version", "revision", "created", "licenses")


def check_config(config: dict[str, Any], size: int) -> list[str]:
    """What is wrong with the image's configuration and size."""
    problems = []
    user = config.get("User", "")
    if user.split(":")[0] in ("", "0", "root"):
        problems.append(f"runs as root (User {user!r})")
    entrypoint = config.get("Entrypoint") or []
    if entrypoint[:2] != ["/opt/session-gateway/bin/session-gateway", "serve"]:
        problems.append(f"entrypoint is {entrypoint}, not session-gateway serve")
    if list(config.get("ExposedPorts") or {}) != [f"{PORT}/tcp"]:
        problems.append(f"exposes {list(config.get('ExposedPorts') or {})}, not {PORT}/tcp")
    labels = config.get("Labels") or {}
    for name in LABELS:
        if not labels.get(f"org.opencontainers.image.{name}"):
            problems.append(f"no org.opencontainers.image.{name} label")
    if size > SIZE_LIMIT:
        problems.append(f"{size / 1e6:.1f} MB, over {SIZE_LIMIT / 1e6:.0f} MB")
    return problems


def fetch(path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def check_serving(root: str, config: dict[str, Any]) -> list[str]:
    """Start the entrypoint in `root` against the mocks; what went wrong, if anything."""
    async with MockUpstreams() as mocks:
        env = dict(item.split("=", 1) for item in config.get("Env") or [])
        env.update(mocks.gateway_env())
        env.update({"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_CURSOR_SECRET": "image-check"})
        user = config["User"]
        command = [
            shutil.which("chroot") or "chroot",
            f"--userspec={user if ':' in user else user + ':' + user}",
            root,
            *config["Entrypoint"],
            *(config.get("Cmd") or []),
        ]
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            return await asyncio.to_thread(_probe, process)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                code = await process.wait()
            assert process.stderr is not None
            log = (await process.stderr.read()).decode(errors="replace")
            if code not in (0, -signal.SIGTERM):
                print(log, file=sys.stderr)
                print(f"the gateway exited with {code}", file=sys.stderr)


def _probe(process: asyncio.subprocess.Process) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        try:
            status, body = fetch("/healthz")
            break
        except OSError:
            if process.returncode is not None or time.monotonic() > deadline:
                return ["the gateway did not answer /healthz"]
            time.sleep(0.2)
    problems = []
    if (status, body) != (200, {"status": "ok"}):
        problems.append(f"/healthz answered {status} {body}")
    status, body = fetch("/readyz")
    if status != 200:
        problems.append(f"/readyz answered {status} {body}")
    status, body = fetch("/graphql", {"query": QUERY})
    edges = (body.get("data") or {}).get("sessions", {}).get("edges", [])
    providers = {edge["node"]["provider"] for edge in edges}
    if status != 200 or body.get("errors") or len(providers) < 2:
        problems.append(f"the query answered {status}: {json.dumps(body)[:300]}")
    else:
        print(f"query: {len(edges)} sessions from {', '.join(sorted(providers))}")
    return problems


def main() -> int:
    root, config_json, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = json.loads(config_json)
    problems = check_config(config, size)
    print(
        f"user {config.get('User')}, entrypoint {config.get('Entrypoint')}, "
        f"ports {list(config.get('ExposedPorts') or {})}, {size / 1e6:.1f} MB"
    )
    problems += asyncio.run(check_serving(root, config))
    for problem in problems:
        print(f"check-image: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.pop("PYTHONPATH", None)
    raise SystemExit(main())
