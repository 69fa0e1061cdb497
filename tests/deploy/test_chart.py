"""The Helm chart (deploy/helm/session-gateway) renders and validates offline, and carries every
setting.

Each render runs deploy/helm/render.py in .venv-helm (scripts/setup-helm): Helm's own Go SDK
coalesces the values, checks them against values.schema.json and renders the templates, then
kubernetes-validate checks every object against the Kubernetes schemas.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.support.paths import ROOT

pytestmark = pytest.mark.server  # starts a process: .venv-helm's Python

HELM_PYTHON = ROOT / ".venv-helm" / "bin" / "python"
RENDER = ROOT / "deploy" / "helm" / "render.py"
SCHEMA = ROOT / "deploy" / "helm" / "session-gateway" / "values.schema.json"
PRODUCTION = ROOT / "deploy" / "helm" / "examples" / "production.yaml"
CONFIGURATION = ROOT / "docs" / "configuration.md"
DEPLOYING = ROOT / "docs" / "deploying.md"


def render(values: Mapping[str, Any] | None = None, *files: Path) -> dict[str, Any]:
    """The render report: `objects`, `not_validated` (custom resources) and `errors`."""
    if not HELM_PYTHON.exists():
        pytest.fail("no .venv-helm: run scripts/setup-helm (scripts/test does)")
    command = [str(HELM_PYTHON), str(RENDER), "--json", "--set-json", json.dumps(values or {})]
    for file in files:
        command += ["-f", str(file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def valid(report: dict[str, Any]) -> dict[str, Any]:
    assert report["errors"] == []
    return report


def one(report: dict[str, Any], kind: str, name: str | None = None) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        o
        for o in report["objects"]
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}"
    return found[0]


def gateway_container(report: dict[str, Any]) -> dict[str, Any]:
    deployment = one(report, "Deployment", "session-gateway")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def environment(report: dict[str, Any]) -> dict[str, Any]:
    """Each variable the gateway container gets: a value, or its secretKeyRef."""
    env: dict[str, Any] = dict(one(report, "ConfigMap")["data"])
    env.pop("gateway.toml", None)
    for item in gateway_container(report).get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def test_values_schema_is_generated_from_the_settings() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "deploy/helm/values_schema.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == json.loads(SCHEMA.read_text()), (
        "values.schema.json is stale: .venv/bin/python deploy/helm/values_schema.py > "
        "deploy/helm/session-gateway/values.schema.json"
    )


def test_default_values_render_valid_manifests_for_a_locked_down_pod() -> None:
    report = valid(render())
    kinds = sorted(o["kind"] for o in report["objects"])
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "Service", "ServiceAccount"]
    pod = one(report, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    container = gateway_container(report)
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    # The drain, the request deadline (5 s by default), the shutdown's 5 s grace, 5 s spare.
    assert environment(report)["GATEWAY_DRAIN_SECONDS"] == "10"
    assert pod["terminationGracePeriodSeconds"] == 10 + 5 + 5 + 5


def test_production_values_run_replicas_on_redis_with_every_secret_from_a_secret() -> None:
    report = render(None, PRODUCTION)
    assert report["errors"] == []
    assert report["not_validated"] == [
        "ServiceMonitor/session-gateway (session-gateway/templates/servicemonitor.yaml)"
    ]
    assert one(report, "Deployment", "session-gateway")["spec"]["replicas"] == 3
    assert one(report, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    one(report, "Deployment", "session-gateway-redis")
    one(report, "Service", "session-gateway-redis")
    env = environment(report)
    assert env["GATEWAY_REDIS_URL"] == "redis://session-gateway-redis:6379/0"
    for name in ("CURSOR_SECRET", "API_KEYS", "KRATOS_TOKEN", "ZITADEL_TOKEN"):
        assert "secretKeyRef" in env[f"GATEWAY_{name}"]
    # The gateway accepts what the chart gives it (secrets filled in as the cluster would).
    given = {name: "secret" if isinstance(value, dict) else value for name, value in env.items()}
    given["GATEWAY_API_KEYS"] = '[{"name": "ops", "key": "k", "scopes": ["sessions:read:all"]}]'
    settings = Settings.from_environ(given)
    assert settings.redis_url is not None
    assert settings.drain_seconds == 10
    # Egress: DNS, the upstreams' ports, and the release's Redis.
    policy = one(report, "NetworkPolicy", "session-gateway")
    ports = [sorted(p["port"] for p in rule["ports"]) for rule in policy["spec"]["egress"]]
    assert ports == [[53, 53], [443, 4434], [6379]]


def sample(schema: dict[str, Any]) -> object:
    """A value `schema` accepts."""
    if "enum" in schema:
        return schema["enum"][0]
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "object" in kinds:
        return {"KRATOS": sample(schema["additionalProperties"])}
    if "array" in kinds:
        return ["a", "b"]
    if "boolean" in kinds:
        return True
    if "integer" in kinds or "number" in kinds:
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        return 1
    return "https://upstream.example.com"


def documented_settings() -> list[str]:
    return re.findall(r"^\| `(GATEWAY_[A-Z0-9_]+)` \|", CONFIGURATION.read_text(), re.M)


def test_every_documented_setting_can_be_set_through_the_chart() -> None:
    schema = json.loads(SCHEMA.read_text())["properties"]
    config = {name: sample(property) for name, property in schema["config"]["properties"].items()}
    secrets = {
        name: {"name": "gateway-secrets", "key": name.replace("_", "-")}
        for name in schema["secretEnv"]["properties"]
    }
    values = {"config": config, "secretEnv": secrets, "configFile": "request_timeout = 5\n"}
    env = environment(valid(render(values)))
    documented = documented_settings()
    assert len(documented) >= 80
    missing = [name for name in documented if name not in env]
    assert not missing, f"documented settings the chart cannot set: {missing}"
    secret_names = {f"GATEWAY_{name.upper()}" for name in secrets}
    assert all("secretKeyRef" in env[name] for name in secret_names)
    assert set(one(render(values), "ConfigMap")["data"]) & secret_names == set()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        pytest.param({"config": {"request_timeout": 1000}}, "request_timeout", id="out-of-bounds"),
        pytest.param({"config": {"reqest_timeout": 5}}, "reqest_timeout", id="unknown-setting"),
        pytest.param({"config": {"cursor_secret": "plain"}}, "cursor_secret", id="secret-in-plain"),
        pytest.param({"config": {"max_depth": "deep"}}, "max_depth", id="wrong-type"),
        pytest.param({"secretEnv": {"privx_token": "plain"}}, "privx_token", id="secret-not-a-ref"),
        pytest.param({"replicaCount": 0}, "replicaCount", id="no-replicas"),
    ],
)
def test_a_wrong_value_fails_before_anything_renders(values: dict[str, Any], named: str) -> None:
    report = render(values)
    assert report["objects"] == []
    (error,) = report["errors"]
    assert named in error


def test_docs_quote_the_production_values_file() -> None:
    assert f"```yaml\n{PRODUCTION.read_text()}```" in DEPLOYING.read_text()
