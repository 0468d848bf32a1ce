"""The `fishwatch` command: serve the gateway, run the sandbox alone, print the schema."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from common.errors import ConfigError

logger = logging.getLogger("gateway.cli")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.logging_setup import configure_logging
    from gateway.settings import load_settings

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    logger.info("starting gateway on http://%s:%d/graphql", settings.host, settings.port)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        ws="websockets-sansio",
    )
    uvicorn.Server(config).run()
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from gateway.logging_setup import configure_logging
    from sandbox.server import run_sandbox

    configure_logging("INFO", "text")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_sandbox(args.host, args.base_port, args.seed))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from gateway.app import create_schema
    from gateway.settings import load_settings

    sdl = create_schema(load_settings()).as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fishwatch", description="Fish Watch orchestrator: GraphQL gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (starts the sandbox for subsystems without a URL)")
    serve.add_argument("--host", help="address to listen on (default: FISHWATCH_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port to listen on (default: FISHWATCH_PORT or 8000)")
    serve.set_defaults(handler=_serve)

    sandbox = commands.add_parser("sandbox", help="run the reference subsystem APIs alone, on loopback")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sandbox.add_argument(
        "--base-port", type=int, default=8101,
        help="port of Core; Data Acquisition, Data Fabric, Alerting and MLflow take the next four (default: 8101)",
    )
    sandbox.add_argument("--seed", type=int, default=7, help="seed of the generated data set (default: 7)")
    sandbox.set_defaults(handler=_sandbox)

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.add_argument("--output", help="write to this file instead of standard output")
    schema.set_defaults(handler=_schema)

    from gateway.auth.cli import add_clients_parser

    add_clients_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        sys.stderr.write(f"fishwatch: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
