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
        ws_per_message_deflate=settings.ws_per_message_deflate,
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


def _workflows_validate(args: argparse.Namespace) -> int:
    from connectors.actions import default_actions
    from workflows.loader import load_file, template_files

    paths: list[Path] = []
    for name in args.files:
        path = Path(name)
        paths.extend(template_files(path) if path.is_dir() else [path])
    actions = default_actions()
    failed = 0
    for path in paths:
        template, issues = load_file(path, actions)
        for issue in issues:
            sys.stdout.write(f"{issue}\n")
        if template is None:
            failed += 1
        else:
            sys.stdout.write(f"{path}: ok ({template.name} v{template.version}, {len(template.all_steps())} steps)\n")
    return 1 if failed else 0


def _workflows_graph(args: argparse.Namespace) -> int:
    from connectors.actions import default_actions
    from gateway.settings import load_settings
    from gateway.workflow_runtime import templates_dir
    from workflows.graph import mermaid
    from workflows.loader import load_folder

    folder = Path(args.dir) if args.dir else templates_dir(load_settings())
    catalog = load_folder(folder, default_actions())
    template = catalog.get(args.name)
    if template is None:
        known = ", ".join(sorted(catalog.templates)) or "none"
        sys.stderr.write(f"fishwatch: workflow template '{args.name}' not found in {folder}; loaded: {known}\n")
        return 1
    sys.stdout.write(mermaid(template))
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

    workflows = commands.add_parser("workflows", help="check and draw workflow templates")
    workflow_commands = workflows.add_subparsers(dest="workflow_command", required=True)
    validate = workflow_commands.add_parser(
        "validate", help="check template files; prints every problem with file, step and field (exit 1 if any)"
    )
    validate.add_argument("files", nargs="+", help="template YAML files or folders of them")
    validate.set_defaults(handler=_workflows_validate)
    graph = workflow_commands.add_parser("graph", help="print a template's step graph as a Mermaid flowchart")
    graph.add_argument("name", help="template name")
    graph.add_argument(
        "--dir", help="templates folder (default: FISHWATCH_WORKFLOW_TEMPLATES_DIR or the shipped templates)"
    )
    graph.set_defaults(handler=_workflows_graph)
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
