"""Write the chart's values.schema.json: its own values, and every setting of app/settings.py.

A setting that is not a secret is a key of `config`, typed and bounded as its Settings field
is (pydantic's JSON schema of the field), so a wrong value fails `helm install`; a secret one
(SecretStr) is a key of `secretEnv`, and only as a reference to a Secret's key, never a value.
tests/deploy/test_chart.py checks the file is current:

    .venv/bin/python deploy/helm/values_schema.py > deploy/helm/session-gateway/values.schema.json
"""

from __future__ import annotations

import json
from typing import Any

from app.settings import Settings
from app.upstream.registry import PROVIDERS

# Keys of a field's JSON schema that say nothing about which values are valid.
_NOISE = ("title", "default", "description", "writeOnly", "format")

STRING = {"type": "string"}
STRINGS = {"type": "object", "additionalProperties": STRING}
ANY_OBJECT = {"type": "object"}
ANY_LIST = {"type": "array"}
SECRET_REF = {
    "type": "object",
    "description": "a key of a Secret in the release's namespace",
    "required": ["name", "key"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "key": {"type": "string", "minLength": 1},
    },
}


def _field_schemas(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    return {prefix + name: schema for name, schema in properties.items()}


def settings() -> dict[str, dict[str, Any]]:
    """Every setting's JSON schema by its name (the variable without GATEWAY_, lower case)."""
    found = _field_schemas(Settings.model_json_schema()["properties"])
    for kind in PROVIDERS:
        prefix = f"{kind.provider.value.lower()}_"
        found |= _field_schemas(kind.settings_class.model_json_schema()["properties"], prefix)
    return dict(sorted(found.items()))


def is_secret(schema: dict[str, Any]) -> bool:
    branches = schema.get("anyOf", [schema])
    return any(branch.get("format") == "password" for branch in branches)


def value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """What a value under `config` may be: the field's schema, null left out (leave the key
    out instead), lists also as the comma-separated string the variable takes, and maps also
    as the JSON text."""
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    (branch,) = branches
    clean = {k: v for k, v in branch.items() if k not in _NOISE}
    if clean.get("type") == "array":
        return {"type": ["array", "string"], "items": STRING}
    if clean.get("type") == "object":
        # Keyed by provider (a name pydantic checks at start-up), valued as the field says.
        inner = clean.get("additionalProperties", STRING)
        return {"type": ["object", "string"], "additionalProperties": inner}
    return clean


def values_schema() -> dict[str, Any]:
    every = settings()
    config = {n: value_schema(s) for n, s in every.items() if not is_secret(s)}
    secrets = {n: SECRET_REF for n, s in every.items() if is_secret(s)}
    image = {
        "type": "object",
        "additionalProperties": False,
        "required": ["repository"],
        "properties": {
            "repository": {"type": "string", "minLength": 1},
            "tag": STRING,
            "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "title": "session-gateway chart values (deploy/helm/values_schema.py writes this file)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "image": image,
            "imagePullSecrets": ANY_LIST,
            "nameOverride": STRING,
            "fullnameOverride": STRING,
            "replicaCount": {"type": "integer", "minimum": 1},
            "config": {
                "type": "object",
                "description": "settings that are not secrets (docs/configuration.md)",
                "additionalProperties": False,
                "properties": config,
            },
            "secretEnv": {
                "type": "object",
                "description": "secret settings, each from a Secret's key",
                "additionalProperties": False,
                "properties": secrets,
            },
            "configFile": STRING,
            "service": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
            },
            "resources": ANY_OBJECT,
            "podDisruptionBudget": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "maxUnavailable": {"type": ["integer", "string"]},
                },
            },
            "autoscaling": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "minReplicas": {"type": "integer", "minimum": 1},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "targetCPUUtilizationPercentage": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 100,
                    },
                },
            },
            "serviceMonitor": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                    "labels": STRINGS,
                },
            },
            "networkPolicy": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "upstreamCIDRs": {"type": "array", "items": STRING},
                    "extraEgress": ANY_LIST,
                    "ingressFrom": ANY_LIST,
                    "dnsSelector": ANY_OBJECT,
                },
            },
            "redis": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "image": image,
                    "resources": ANY_OBJECT,
                },
            },
            "serviceAccount": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"create": {"type": "boolean"}, "name": STRING},
            },
            "podAnnotations": STRINGS,
            "podLabels": STRINGS,
            "nodeSelector": STRINGS,
            "tolerations": ANY_LIST,
            "affinity": ANY_OBJECT,
            "topologySpreadConstraints": ANY_LIST,
            "extraVolumes": ANY_LIST,
            "extraVolumeMounts": ANY_LIST,
        },
    }


if __name__ == "__main__":
    print(json.dumps(values_schema(), indent=2))
