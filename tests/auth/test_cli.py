"""`fishwatch clients`: create, list, rotate-secret and disable, checked through the token endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.auth.conftest import AuthGateway

REPO = Path(__file__).resolve().parents[2]


async def run_cli(argv: list[str], clients_file: Path, **settings: str) -> tuple[int, str, str]:
    """Run `fishwatch` as a user would, in its own process, with the clients file in the environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FISHWATCH_")}
    env["FISHWATCH_OAUTH_CLIENTS_FILE"] = str(clients_file)
    env.update({f"FISHWATCH_{name.upper()}": value for name, value in settings.items()})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *argv,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), out.decode(), err.decode()


async def token_status(gateway: AuthGateway, client_id: str, secret: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    return response.status_code


def printed(name: str, output: str) -> str:
    """Return the value the CLI printed after `name:`."""
    match = re.search(rf"{name}:\s+(\S+)", output)
    assert match is not None, output
    return match.group(1)


@pytest.fixture
def clients_file(auth_gateway: AuthGateway) -> Path:
    return auth_gateway.clients_file


async def test_clients_lifecycle(auth_gateway: AuthGateway, clients_file: Path):
    code, out, _ = await run_cli(
        ["clients", "create", "--name", "feed supplier", "--scopes", "farms:read,alerts:read", "--farms", "f1,f2"],
        clients_file,
    )
    client_id = printed("client_id", out)
    secret = printed("client_secret", out)
    stored = auth_gateway.clients_file.read_text()

    assert code == 0
    assert secret not in stored
    assert "scrypt$" in stored
    assert await token_status(auth_gateway, client_id, secret) == 200

    code, out, _ = await run_cli(["clients", "list"], clients_file)
    listed = [json.loads(line) for line in out.splitlines()]
    mine = next(item for item in listed if item["client_id"] == client_id)
    assert code == 0
    assert mine["name"] == "feed supplier"
    assert mine["scopes"] == ["farms:read", "alerts:read"]
    assert mine["farms"] == ["f1", "f2"]
    assert "secret_hash" not in mine

    code, out, _ = await run_cli(["clients", "rotate-secret", client_id], clients_file)
    new_secret = printed("client_secret", out)
    assert code == 0
    assert await token_status(auth_gateway, client_id, secret) == 401
    assert await token_status(auth_gateway, client_id, new_secret) == 200

    code, _, _ = await run_cli(["clients", "disable", client_id], clients_file)
    assert code == 0
    assert await token_status(auth_gateway, client_id, new_secret) == 401


async def test_create_unknown_scope_fails(clients_file: Path):
    code, _, err = await run_cli(
        ["clients", "create", "--name", "x", "--scopes", "farms:rwx", "--farms", "*"], clients_file
    )

    assert code == 2
    assert "unknown scopes ['farms:rwx']" in err


async def test_create_without_farms_fails(clients_file: Path):
    code, _, err = await run_cli(["clients", "create", "--name", "x", "--scopes", "farms:read"], clients_file)

    assert code == 2
    assert "--farms" in err


async def test_rotate_unknown_client_fails(clients_file: Path):
    code, _, err = await run_cli(["clients", "rotate-secret", "fw-missing"], clients_file)

    assert code == 1
    assert "client 'fw-missing' not found" in err


async def test_clients_in_redis(auth_redis_url: str, tmp_path: Path):
    import uuid

    from gateway.auth.clients import RedisClientStore
    from gateway.auth.runtime import open_redis

    prefix = f"fwtest-{uuid.uuid4().hex}:"
    redis_settings = {"auth_redis_url": auth_redis_url, "auth_redis_prefix": prefix}
    unused_file = tmp_path / "clients.json"
    code, out, _ = await run_cli(
        [
            "clients",
            "create",
            "--name",
            "subsystem A",
            "--scopes",
            "events:publish",
            "--farms",
            "*",
            "--kind",
            "subsystem",
        ],
        unused_file,
        **redis_settings,
    )
    client_id = printed("client_id", out)
    _, listed, _ = await run_cli(["clients", "list"], unused_file, **redis_settings)
    redis = open_redis(auth_redis_url)
    stored = await RedisClientStore(redis, prefix).get(client_id)
    await redis.aclose()

    assert code == 0
    assert not unused_file.exists()
    assert [json.loads(line)["client_id"] for line in listed.splitlines()] == [client_id]
    assert stored is not None
    assert stored.kind == "subsystem"
