"""`fishwatch clients ...`: register and manage OAuth clients in the configured client store."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from common.errors import ConfigError


def _parse_list(raw: str | None) -> list[str]:
    return [item for item in (raw or "").replace(",", " ").split() if item]


async def _with_store(action: Any) -> int:
    from gateway.auth.runtime import client_store_for, open_redis
    from gateway.settings import load_settings

    settings = load_settings()
    redis_url = settings.auth_redis_url or settings.redis_url
    redis = open_redis(redis_url) if redis_url else None
    try:
        return int(await action(client_store_for(settings, redis)))
    finally:
        if redis is not None:
            await redis.aclose()


def _create(args: argparse.Namespace) -> int:
    from gateway.auth.clients import new_client
    from resolvers.permissions import SCOPES

    scopes = _parse_list(args.scopes)
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ConfigError(f"unknown scopes {unknown}; known scopes: {' '.join(sorted(SCOPES))}")
    farms = _parse_list(args.farms)
    organizations = _parse_list(args.organizations)
    if not farms and not organizations:
        raise ConfigError(
            "give --farms (farm ids, or '*' for every farm) or --organizations; a client sees nothing else"
        )
    record, secret = new_client(args.name, scopes, farms, organizations, args.kind)

    async def action(store: Any) -> int:
        await store.put(record)
        return 0

    code = asyncio.run(_with_store(action))
    sys.stdout.write(
        f"client_id:     {record.client_id}\n"
        f"client_secret: {secret}\n"
        "The secret is shown only now; the gateway stores only its hash.\n"
    )
    return code


def _list(args: argparse.Namespace) -> int:
    async def action(store: Any) -> int:
        for record in await store.all():
            sys.stdout.write(json.dumps(record.summary(), sort_keys=True) + "\n")
        return 0

    return asyncio.run(_with_store(action))


def _change(client_id: str, change: Any) -> int:
    async def action(store: Any) -> int:
        record = await store.get(client_id)
        if record is None:
            sys.stderr.write(f"fishwatch: client '{client_id}' not found; see `fishwatch clients list`\n")
            return 1
        await store.put(change(record))
        return 0

    return asyncio.run(_with_store(action))


def _rotate_secret(args: argparse.Namespace) -> int:
    from gateway.auth.client_secrets import hash_secret, new_secret

    secret = new_secret()

    def change(record: Any) -> Any:
        return record.model_copy(
            update={"secret_hash": hash_secret(secret), "secret_rotated_at": dt.datetime.now(dt.UTC)}
        )

    code = _change(args.client_id, change)
    if code == 0:
        sys.stdout.write(
            f"client_secret: {secret}\n"
            "The old secret stops working now; tokens issued with it stay valid until they expire.\n"
        )
    return code


def _disable(args: argparse.Namespace) -> int:
    code = _change(args.client_id, lambda record: record.model_copy(update={"disabled": True}))
    if code == 0:
        sys.stdout.write(
            f"client {args.client_id} disabled; it gets no new tokens, and its tokens stay valid until they "
            "expire unless revoked\n"
        )
    return code


def add_clients_parser(commands: Any) -> None:
    """Add `fishwatch clients` and its subcommands to the CLI's subparsers."""
    clients = commands.add_parser("clients", help="register and manage OAuth clients (third parties, subsystems)")
    actions = clients.add_subparsers(dest="clients_command", required=True)

    create = actions.add_parser("create", help="register a client and print its secret once")
    create.add_argument("--name", required=True, help="who the client is, shown in lists and audit logs")
    create.add_argument("--scopes", required=True, help="scopes it may request, space- or comma-separated")
    create.add_argument("--farms", help="farm ids it may see, comma-separated; '*' for every farm")
    create.add_argument("--organizations", help="organization ids whose farms it may see, comma-separated")
    create.add_argument(
        "--kind",
        choices=["client", "subsystem"],
        default="client",
        help="client: a third party (default); subsystem: a Fish Watch subsystem",
    )
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="print every client as one JSON line, without secrets")
    listing.set_defaults(handler=_list)

    rotate = actions.add_parser("rotate-secret", help="replace a client's secret and print the new one once")
    rotate.add_argument("client_id")
    rotate.set_defaults(handler=_rotate_secret)

    disable = actions.add_parser("disable", help="stop issuing tokens to a client")
    disable.add_argument("client_id")
    disable.set_defaults(handler=_disable)
