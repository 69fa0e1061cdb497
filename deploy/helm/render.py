"""Lint and render the chart offline as `helm lint --strict` and `helm template` do, and validate
every manifest.

Runs with .venv-helm's Python (scripts/setup-helm): helm-python-sdk is Helm's own Go SDK (v4)
behind a C ABI, so values are coalesced with the chart's defaults, checked against
values.schema.json and rendered by Helm's engine, without the helm binary or a cluster.
kubernetes-validate then checks each object against the OpenAPI schema of the Kubernetes
release given, strictly (no unknown fields). Objects of custom resources (the ServiceMonitor)
have no schema there: they are listed as not validated.

    .venv-helm/bin/python deploy/helm/render.py [-f VALUES.yaml]... [--set-json JSON] [--json]

Exit status: 0 when it rendered and every object with a schema is valid; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import helm_python as helm  # type: ignore[import-not-found]
import kubernetes_validate  # type: ignore[import-not-found]
import yaml  # type: ignore[import-untyped]

CHART = Path(__file__).resolve().parent / "session-gateway"
# The newest Kubernetes release kubernetes-validate 1.37.0 knows; the chart needs 1.25+.
KUBERNETES = "1.37.0"
# API groups of custom resources: no schema in kubernetes-validate.
CUSTOM = ("monitoring.coreos.com/",)


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` deep-merged onto `base`, as Helm merges values files."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def render(values: dict[str, Any], release: str, namespace: str) -> dict[str, Any]:
    """The objects the chart makes of `values`, and what is wrong with them."""
    report: dict[str, Any] = {"objects": [], "not_validated": [], "errors": []}
    with helm.Chart.load(str(CHART)) as chart:
        try:
            chart.validate_schema(chart.merge_values(values))
        except helm.HelmError as exc:
            report["errors"].append(f"helm: {exc}")
            return report
        # `helm lint --strict`: warnings count as errors (severity 2 warning, 3 error).
        linted = helm.lint(
            str(CHART), values, strict=True, namespace=namespace, skip_schema_validation=True
        )
        report["errors"] += [
            f"lint: {m['path']}: {m['error']}" for m in linted["messages"] if m["severity"] >= 2
        ]
        try:
            manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
        except helm.HelmError as exc:
            report["errors"].append(f"helm: {exc}")
            return report
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            report["objects"].append(document)
            name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')} ({path})"
            if str(document.get("apiVersion", "")).startswith(CUSTOM):
                report["not_validated"].append(name)
                continue
            try:
                kubernetes_validate.validate(document, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                report["errors"].append(f"{name}: {exc.message} at {list(exc.path)}")
            except (
                kubernetes_validate.SchemaNotFoundError,
                kubernetes_validate.InvalidSchemaError,
            ) as exc:
                report["errors"].append(f"{name}: {exc}")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--values", action="append", default=[], help="values file")
    parser.add_argument("--set-json", help="values as a JSON object, over the files")
    parser.add_argument("--release", default="session-gateway")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    values: dict[str, Any] = {}
    for path in args.values:
        values = merged(values, yaml.safe_load(Path(path).read_text()) or {})
    if args.set_json:
        values = merged(values, json.loads(args.set_json))
    report = render(values, args.release, args.namespace)
    if args.json:
        print(json.dumps(report))
    else:
        print(yaml.safe_dump_all(report["objects"], sort_keys=False), end="")
        kinds = ", ".join(sorted({o["kind"] for o in report["objects"]}))
        print(
            f"# {len(report['objects'])} objects ({kinds}); valid against Kubernetes "
            f"{KUBERNETES} but for {report['not_validated'] or 'none'}",
            file=sys.stderr,
        )
        for error in report["errors"]:
            print(f"error: {error}", file=sys.stderr)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
