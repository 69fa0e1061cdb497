"""The `session-gateway` command: demo, serve, check-config, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from app.core.errors import ConfigError
from app.http.cors import ANY_ORIGIN
from app.http.serving import (
    DrainingServer,
    DrainingSupervisor,
    server_config,
    server_options,
    tune_collector,
)
from app.observability import logs
from app.settings import Settings

if TYPE_CHECKING:  # the demo's modules load only for `demo`
    from app.mocks.viewer import DemoViewer


def _serve(args: argparse.Namespace) -> int:
    from app.main import create_app

    if args.config:
        # Worker processes read the environment, so the file travels there.
        os.environ["GATEWAY_CONFIG_FILE"] = args.config
    try:
        settings = Settings.from_environ()
        app = create_app(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    options = server_options(settings, host=args.host, port=args.port, log_level=args.log_level)
    workers = args.workers if args.workers is not None else settings.workers
    if workers > 1:
        # Each worker process builds its own app from the same environment.
        config = uvicorn.Config("app.main:worker_app", factory=True, workers=workers, **options)
        DrainingSupervisor(config, [config.bind_socket()], settings.drain_seconds).run()
        return 0
    tune_collector()
    server = DrainingServer(uvicorn.Config(app, **options), settings.drain_seconds)
    server.run()
    return 0 if server.started else 3


# Seconds between the demo's session churn steps (one session begins, one ends).
CHURN_SECONDS = 3.0


def _demo_settings(
    mock_env: dict[str, str], host: str, port: int, viewer_env: dict[str, str] | None = None
) -> Settings:
    """The demo's settings: the mocks, anonymous callers, the demo viewer's people file and
    token key (unless the environment brings a JWKS of its own), and the environment's GATEWAY_*."""
    # The demo holds generated data only, so it lets anyone on loopback in.
    env = {**mock_env, "GATEWAY_ALLOW_ANONYMOUS": "true"}
    given = Settings.from_environ(env)
    if viewer_env and not (given.jwks_url or given.jwks_file):
        env = {**viewer_env, **env}
        given = Settings.from_environ(env)
    if not given.cors_origins:
        # Any web page may call it (CORS), so a frontend on its own dev server just works;
        # with API keys or JWTs configured that would hand them to any page, so only its own.
        own = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        env["GATEWAY_CORS_ORIGINS"] = own if given.caller_auth else ANY_ORIGIN
    return Settings.from_environ(env)


async def _demo(args: argparse.Namespace) -> int:
    # Where the demo viewer's people file and signing key live while it runs.
    with tempfile.TemporaryDirectory(prefix="session-gateway-demo-") as folder:
        return await _demo_in(args, Path(folder))


async def _demo_in(args: argparse.Namespace, folder: Path) -> int:
    from app.main import create_app
    from app.mocks import MockUpstreams
    from app.mocks.churn import churn
    from app.mocks.geo import write_databases
    from app.mocks.viewer import demo_viewer

    async with MockUpstreams() as mocks:
        viewer = None if args.no_viewer else demo_viewer(mocks.data, folder)
        try:
            # GeoIP databases for the mock world's networks, so locations show: written here,
            # never fetched.
            mock_env = {**write_databases(str(folder)), **mocks.gateway_env()}
            settings = _demo_settings(
                mock_env, args.host, args.port, viewer.env if viewer else None
            )
            app = create_app(settings)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        config = server_config(
            app, settings, host=args.host, port=args.port, log_level=args.log_level
        )
        server = uvicorn.Server(config)
        tune_collector()
        # Sessions begin and end at the mock Kratos, so a subscription has something to show.
        churning = asyncio.create_task(churn(mocks.data, every=CHURN_SECONDS))
        for provider, url in mocks.urls.items():
            print(f"mock {provider:<9} {url}")
        print(f"\n{_demo_banner(settings)}")
        if viewer is not None and settings.jwks_file == viewer.env["GATEWAY_JWKS_FILE"]:
            print(_viewer_banner(viewer))
        print(f"GraphiQL: http://{args.host}:{args.port}/graphql  (Ctrl+C to stop)\n", flush=True)
        try:
            await server.serve()
        finally:
            churning.cancel()
    return 0


def _viewer_banner(viewer: DemoViewer) -> str:
    """The demo token, ready to paste into GraphiQL's Headers pane."""
    headers = json.dumps({"Authorization": f"Bearer {viewer.token}"})
    return (
        f"\nDemo viewer: {viewer.person.display_name} (person {viewer.person_id}), signed in "
        f"at several providers; the token names ZITADEL session {viewer.current.native_id} as "
        "the current one. Paste this into GraphiQL's Headers pane for the "
        '"Where am I signed in" and "Sign out other sessions" tabs:\n'
        f"{headers}\n"
    )


def _demo_banner(settings: Settings) -> str:
    """What the demo lets in, said plainly."""
    origins = ",".join(settings.cors_origins)
    if settings.cors_origins == (ANY_ORIGIN,):
        cors = "GATEWAY_CORS_ORIGINS=* (any web page may call it)"
    else:
        cors = f"GATEWAY_CORS_ORIGINS={origins} (list other apps' origins there)"
    if settings.caller_auth:
        who = "GATEWAY_ALLOW_ANONYMOUS=true, and the configured API keys or JWTs are checked"
    else:
        who = "GATEWAY_ALLOW_ANONYMOUS=true, no caller authentication"
    return f"Demo mode: {who}; {cors}."


def _check_config(args: argparse.Namespace) -> int:
    """Validate the configuration and print it, secrets redacted."""
    try:
        settings = Settings.from_environ(config_file=args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    rows = settings.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, value, origin in rows:
        print(f"{name:<{width}}  {value}  ({origin})")
    if not settings.caller_auth and not settings.allow_anonymous:
        print(
            "\nserve would refuse to start: no caller authentication is configured.",
            file=sys.stderr,
        )
        return 2
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from app.core.possible_types import possible_types
    from resolvers.schema import Limits, build_schema, schema

    if args.possible_types:
        found = possible_types(schema._schema)
        sys.stdout.write(json.dumps(found, indent=2, sort_keys=True) + "\n")
        return 0
    exported = build_schema(Limits(federation=True)) if args.federation else schema
    sys.stdout.write(str(exported) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="session-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("demo", "start built-in mock upstreams and the gateway on loopback"),
        ("serve", "serve against the upstreams configured by GATEWAY_* variables"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8000)
        command.add_argument("--log-level", default="info")
        if name == "serve":
            command.add_argument(
                "--workers", type=int, help="worker processes (default: GATEWAY_WORKERS, or 1)"
            )
            command.add_argument("--config", help="TOML config file (environment overrides it)")
        else:
            command.add_argument(
                "--no-viewer",
                action="store_true",
                help="no demo person token (then any web origin may call the demo)",
            )
    check = commands.add_parser("check-config", help="validate and print the configuration")
    check.add_argument("--config", help="TOML config file (environment overrides it)")
    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.add_argument(
        "--federation",
        action="store_true",
        help="the Federation 2 subgraph SDL (GATEWAY_FEDERATION=true): schema.subgraph.graphql",
    )
    export.add_argument(
        "--possible-types",
        action="store_true",
        help="print the possibleTypes JSON of Apollo Client and urql instead (docs/clients.md)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        logs.configure(args.log_level)
        return _serve(args)
    if args.command == "demo":
        logs.configure(args.log_level)
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_demo(args))
        return 0
    if args.command == "check-config":
        return _check_config(args)
    return _export_schema(args)


if __name__ == "__main__":
    raise SystemExit(main())
