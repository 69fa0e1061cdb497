"""The `session-gateway` command: demo, serve, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

import uvicorn

from app.errors import ConfigError
from app.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    from app.main import create_app

    try:
        settings = Settings.from_environ()
        app = create_app(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.workers > 1:
        # Each worker process builds its own app from the same environment.
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
        )
        return 0
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


async def _demo(args: argparse.Namespace) -> None:
    from app.main import create_app
    from app.mocks import MockUpstreams

    async with MockUpstreams() as mocks:
        # The demo holds generated data only, so it lets anyone on loopback in.
        env = {**mocks.gateway_env(), "GATEWAY_ALLOW_ANONYMOUS": "true"}
        settings = Settings.from_environ(env)
        config = uvicorn.Config(
            create_app(settings), host=args.host, port=args.port, log_level=args.log_level
        )
        server = uvicorn.Server(config)
        for provider, url in mocks.urls.items():
            print(f"mock {provider:<9} {url}")
        print(
            "\nDemo mode: GATEWAY_ALLOW_ANONYMOUS=true, no caller authentication."
            f"\nGraphiQL: http://{args.host}:{args.port}/graphql  (Ctrl+C to stop)\n",
            flush=True,
        )
        await server.serve()


def _export_schema(args: argparse.Namespace) -> int:
    from resolvers.schema import schema

    sys.stdout.write(str(schema) + "\n")
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
            command.add_argument("--workers", type=int, default=1, help="worker processes")
    commands.add_parser("export-schema", help="print the GraphQL SDL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_demo(args))
        return 0
    return _export_schema(args)


if __name__ == "__main__":
    raise SystemExit(main())
