"""The gateway composed into a real supergraph: The Guild's composition, served by Hive Gateway.

A second subgraph (accounts, a small Strawberry federation app written here) references
SessionUser by `provider nativeId`; the supergraph is composed by tests/node/federation/
compose.mjs and served by Hive Gateway with tests/node/federation/gateway.config.mjs, the
config docs/federation.md shows. Everything listens on loopback; nothing phones home.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import strawberry
import uvicorn
from strawberry.asgi import GraphQL
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from app.mocks import Fault, FaultPlan, generate
from resolvers.types.enums import Provider
from tests.support.digest import sha256
from tests.support.live import LiveStack, post
from tests.support.net import free_port
from tests.support.paths import ROOT

pytestmark = pytest.mark.server

NODE_DIR = ROOT / "tests" / "node" / "federation"
HIVE_GATEWAY = NODE_DIR / "node_modules" / ".bin" / "hive-gateway"
QUERY_FILE = NODE_DIR / "account-sessions.graphql"
API_KEY = "federation-router-key"
STARTUP_S = 90  # generous: Node starts slowly on a busy 2-core machine


# The accounts subgraph: accounts that know their owner's ZITADEL and PrivX user ids.
@strawberry.federation.type(keys=[Key(fields=FieldSet("provider nativeId"), resolvable=False)])
class SessionUser:
    provider: Provider
    native_id: str


@strawberry.federation.type(keys=["id"])
class Account:
    id: strawberry.ID
    name: str
    zitadel_user: SessionUser | None
    privx_user: SessionUser | None


@dataclass(frozen=True)
class Owner:
    account: str
    zitadel: str
    privx: str | None


OWNERS: list[Owner] = []  # filled from the mock world by the fixture


@strawberry.type
class Query:
    @strawberry.field
    def accounts(self) -> list[Account]:
        return [
            Account(
                id=strawberry.ID(o.account),
                name=f"Account {o.account}",
                zitadel_user=SessionUser(provider=Provider.ZITADEL, native_id=o.zitadel),
                privx_user=SessionUser(provider=Provider.PRIVX, native_id=o.privx)
                if o.privx
                else None,
            )
            for o in OWNERS
        ]


ACCOUNTS = strawberry.federation.Schema(query=Query, federation_version="2.5")


class Accounts:
    """The accounts subgraph under uvicorn, in a thread, on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        config = uvicorn.Config(GraphQL(ACCOUNTS), host="127.0.0.1", port=self.port)
        config.log_level = "warning"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}/graphql"

    def __enter__(self) -> Accounts:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the accounts subgraph did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Supergraph:
    url: str
    sessions: LiveStack


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll Hive Gateway's readiness endpoint until it answers 200."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hive-gateway exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"hive-gateway was not ready within {STARTUP_S} s:\n{log.read_text()}")


def node_env() -> dict[str, str]:
    """The environment of the Node processes: no telemetry, registry or proxy settings."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep} | {"NODE_ENV": "production"}


@pytest.fixture(scope="module")
def supergraph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supergraph]:
    assert HIVE_GATEWAY.exists(), "run scripts/setup-node (it installs tests/node/federation)"
    data = generate()
    users = (s.get("factors", {}).get("user", {}).get("id") for s in data.zitadel)
    zitadel_users = [u for u in dict.fromkeys(users) if u]
    OWNERS[:] = [
        Owner("a1", zitadel_users[0], data.privx[0]["user_id"]),
        Owner("a2", zitadel_users[1], None),
        Owner("a3", "404404404404404404", None),  # a user ZITADEL does not know
    ]
    work = tmp_path_factory.mktemp("supergraph")
    keys = work / "keys.json"
    digest = sha256(API_KEY)
    keys.write_text(
        json.dumps([{"name": "router", "key_sha256": digest, "scopes": ["sessions:read:all"]}])
    )
    env = {
        "GATEWAY_FEDERATION": "true",
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": str(keys),
    }
    with LiveStack(data=data, env=env) as sessions, Accounts() as accounts:
        accounts_sdl = work / "accounts.graphql"
        accounts_sdl.write_text(str(ACCOUNTS) + "\n")
        file = work / "supergraph.graphql"
        subprocess.run(
            [
                "node",
                "compose.mjs",
                str(file),
                f"sessions={sessions.url}={ROOT / 'schema.subgraph.graphql'}",
                f"accounts={accounts.url}={accounts_sdl}",
            ],
            cwd=NODE_DIR,
            env=node_env(),
            check=True,
            timeout=120,
        )
        port = free_port()
        log = work / "hive-gateway.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(HIVE_GATEWAY),
                    "supergraph",
                    str(file),
                    "--config-path",
                    str(NODE_DIR / "gateway.config.mjs"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--disable-websockets",
                ],
                cwd=work,
                env=node_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_ready(f"http://127.0.0.1:{port}/readiness", process, log)
            yield Supergraph(f"http://127.0.0.1:{port}/graphql", sessions)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def through_router(graph: Supergraph) -> dict[str, Any]:
    return post(graph.url, QUERY_FILE.read_text(), headers={"X-API-Key": API_KEY})


def direct(graph: Supergraph, provider: str, native_id: str) -> dict[str, Any]:
    """The same user's first page asked of the sessions gateway directly, with Query.sessions."""
    query = """query ($u: [ProviderUserInput!]) {
      sessions(first: 3, filter: {users: $u}) { totalCount nodes { id provider createdAt } }
    }"""
    users = [{"provider": provider, "nativeId": native_id}]
    result = post(graph.sessions.url, query, {"u": users}, headers={"X-API-Key": API_KEY})
    assert "errors" not in result, result["errors"]
    page: dict[str, Any] = result["data"]["sessions"]
    return page


def test_a_query_from_accounts_into_sessions_through_hive_gateway(supergraph: Supergraph) -> None:
    supergraph.sessions.reset_calls()

    result = through_router(supergraph)

    calls = {p.value: len(supergraph.sessions.calls(p.value)) for p in Provider}
    assert "errors" not in result, result["errors"]
    accounts = result["data"]["accounts"]
    assert [a["id"] for a in accounts] == ["a1", "a2", "a3"]
    for account, owner in zip(accounts[:2], OWNERS, strict=False):
        expected = direct(supergraph, "ZITADEL", owner.zitadel)
        got = account["zitadelUser"]["sessions"]
        assert got["totalCount"] == expected["totalCount"] > 0
        assert got["nodes"] == expected["nodes"]
        assert got["pageInfo"]["hasNextPage"] == (expected["totalCount"] > 3)
        assert account["zitadelUser"]["loginName"]
    # A user without sessions is still a user: no name, and an empty list (not an error).
    assert accounts[2]["zitadelUser"] == {
        "loginName": None,
        "sessions": {
            "totalCount": 0,
            "nodes": [],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        },
    }
    privx = direct(supergraph, "PRIVX", OWNERS[0].privx or "")
    assert accounts[0]["privxUser"]["sessions"]["totalCount"] == privx["totalCount"]
    assert accounts[0]["privxUser"]["sessions"]["nodes"] == [
        {"id": n["id"], "provider": "PRIVX"} for n in privx["nodes"]
    ]
    assert accounts[1]["privxUser"] is None
    # ZITADEL: one listing for the three users, then one search per user. PrivX: one lookup
    # for its one user, then its sessions. The others are not asked.
    assert calls == {"ZITADEL": 4, "PRIVX": 2, "PREFACTOR": 0, "HYPERID": 0, "KRATOS": 0}


def test_a_provider_failing_reaches_the_client_with_code_and_provider(
    supergraph: Supergraph,
) -> None:
    supergraph.sessions.mocks.set_fault("ZITADEL", FaultPlan(Fault.SERVER_ERROR))
    try:
        result = through_router(supergraph)
    finally:
        supergraph.sessions.mocks.set_fault("ZITADEL", None)

    accounts = result["data"]["accounts"]
    assert [a["zitadelUser"] for a in accounts] == [None, None, None]
    assert accounts[0]["privxUser"]["sessions"]["totalCount"] > 0  # the others still answer
    zitadel = [e for e in result["errors"] if e["extensions"].get("provider") == "ZITADEL"]
    assert zitadel, result["errors"]
    assert {e["extensions"]["code"] for e in zitadel} == {"UPSTREAM_UNAVAILABLE"}
    assert {tuple(e["path"][:2]) for e in zitadel} == {("accounts", i) for i in range(3)}


def test_without_the_api_key_the_subgraph_refuses_and_says_why(supergraph: Supergraph) -> None:
    result = post(supergraph.url, QUERY_FILE.read_text())

    codes = {e.get("extensions", {}).get("code") for e in result["errors"]}
    assert "UNAUTHENTICATED" in codes, result["errors"]


def test_the_docs_show_the_config_and_query_this_test_runs() -> None:
    doc = (ROOT / "docs" / "federation.md").read_text()

    for file in (NODE_DIR / "gateway.config.mjs", QUERY_FILE):
        assert file.read_text() in doc, f"docs/federation.md must show {file.name} as it is"
