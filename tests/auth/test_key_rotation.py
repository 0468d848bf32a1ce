"""Signing-key rotation, and revocation seen by every replica through Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gateway.auth.clients import FileClientStore, new_client
from sandbox.server import SandboxUrls
from tests.auth.conftest import ISSUER, write_rsa_key
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway

QUERY = {"query": "{ farms(first: 1) { edges { node { id } } } }"}


def settings_for(sandbox_urls: SandboxUrls, clients_file: Path, keys: list[Path], **overrides: Any) -> dict[str, Any]:
    return {
        **subsystem_settings(sandbox_urls),
        "auth_anonymous": "off",
        "oauth_issuer": ISSUER,
        "oauth_clients_file": str(clients_file),
        "oauth_signing_key_files": [str(key) for key in keys],
        **overrides,
    }


async def issue(gateway: RunningGateway, client_id: str, secret: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{gateway.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    return str(response.json()["access_token"])


async def query_status(gateway: RunningGateway, token: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(gateway.graphql_url, json=QUERY, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def jwks_kids(gateway: RunningGateway) -> list[str]:
    async with httpx.AsyncClient() as http:
        return [key["kid"] for key in (await http.get(f"{gateway.url}/.well-known/jwks.json")).json()["keys"]]


def kid_of(token: str) -> str:
    import base64
    import json

    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def test_rotation_old_key_still_verifies(sandbox_urls: SandboxUrls, tmp_path: Path):
    old_key, new_key = write_rsa_key(tmp_path / "old.pem"), write_rsa_key(tmp_path / "new.pem")
    clients_file = tmp_path / "clients.json"
    record, secret = new_client("rotation", ["farms:read"], ["*"], [], "client")
    await FileClientStore(str(clients_file)).put(record)

    async with serve_gateway(**settings_for(sandbox_urls, clients_file, [old_key])) as before:
        old_token = await issue(before, record.client_id, secret)
        old_kid = kid_of(old_token)
    async with serve_gateway(**settings_for(sandbox_urls, clients_file, [new_key, old_key])) as during:
        new_token = await issue(during, record.client_id, secret)
        old_status, new_status = await query_status(during, old_token), await query_status(during, new_token)
        kids = await jwks_kids(during)
    async with serve_gateway(**settings_for(sandbox_urls, clients_file, [new_key])) as after:
        retired_status = await query_status(after, old_token)

    assert kid_of(new_token) != old_kid
    assert kids == [kid_of(new_token), old_kid]
    assert old_status == 200
    assert new_status == 200
    assert retired_status == 401


async def test_revocation_shared_by_replicas(sandbox_urls: SandboxUrls, tmp_path: Path, auth_redis_url: str):
    key = write_rsa_key(tmp_path / "shared.pem")
    prefix = f"fwtest-{tmp_path.name}:"
    settings = settings_for(
        sandbox_urls, tmp_path / "unused.json", [key], auth_redis_url=auth_redis_url, auth_redis_prefix=prefix
    )
    async with serve_gateway(**settings) as first, serve_gateway(**settings) as second:
        # Clients live in Redis here, so one registration serves both replicas.
        from gateway.auth.clients import RedisClientStore
        from gateway.auth.runtime import open_redis

        redis = open_redis(auth_redis_url)
        record, secret = new_client("replicas", ["farms:read"], ["*"], [], "client")
        await RedisClientStore(redis, prefix).put(record)
        await redis.aclose()

        token = await issue(first, record.client_id, secret)
        before = await query_status(second, token)
        async with httpx.AsyncClient() as http:
            revoked = await http.post(
                f"{first.url}/oauth/revoke", data={"token": token}, auth=(record.client_id, secret)
            )
        after_first, after_second = await query_status(first, token), await query_status(second, token)

    assert before == 200
    assert revoked.status_code == 200
    assert after_first == 401
    assert after_second == 401
