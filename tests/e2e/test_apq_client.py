"""Apollo Client 4's PersistedQueryLink falls back by itself on the gateway's APQ answers:
PersistedQueryNotFound makes it resend with the document (which registers it), and
PersistedQueryNotSupported makes it stop sending hashes (tests/node/clients/apq.mjs)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.live import LiveStack
from tests.support.paths import NODE

pytestmark = pytest.mark.server

CLIENTS = NODE / "clients"
KEYS = json.dumps([{"name": "web", "key": "web-key", "scopes": ["sessions:read:all"]}])


@pytest.mark.parametrize("mode", ["allow", "off"])
def test_apollos_persisted_query_link_falls_back_by_itself(mode: str) -> None:
    if not (CLIENTS / "node_modules").is_dir():
        pytest.fail("tests/node/clients/node_modules is missing: run scripts/setup-node")
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": KEYS,
        "GATEWAY_PERSISTED_DOCUMENTS_MODE": mode,
    }
    with LiveStack(env=env) as live:
        run = subprocess.run(
            ["node", "apq.mjs", live.url, "web-key", mode],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"ok": True, "mode": mode, "requests": 3}
