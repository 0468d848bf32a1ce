"""Fixtures of the authentication tests: a gateway that rejects anonymous callers, registered
clients, and helpers to sign tokens with keys generated in the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth.clients import FileClientStore, new_client
from sandbox.server import SandboxUrls
from tests.auth.idp import IdentityProvider, IdpKey
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway
from tests.peers import redis_url_for_tests

ISSUER = "http://127.0.0.1/fishwatch"
AUDIENCE = "fishwatch-gateway"
# Farms of the sandbox (seed 7) and their organizations, as the Core System lists them.
READ_SCOPES = "farms:read alerts:read devices:read catalog:read models:read forecasts:read"


@dataclass
class RegisteredClient:
    """A client registered in the gateway's client store, with its clear secret."""

    client_id: str
    secret: str


def write_rsa_key(path: Path) -> Path:
    """Write a fresh RSA 2048 private key as PEM and return its path."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@dataclass
class AuthGateway:
    """A gateway with anonymous access off, its clients file and a helper to register clients."""

    running: RunningGateway
    clients_file: Path
    key_file: Path

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def token_url(self) -> str:
        return f"{self.running.url}/oauth/token"

    async def register(
        self,
        scopes: str = READ_SCOPES,
        farms: list[str] | None = None,
        organizations: list[str] | None = None,
        kind: Any = "client",
        name: str = "test client",
    ) -> RegisteredClient:
        record, secret = new_client(
            name, scopes.split(), farms if farms is not None else ["*"], organizations or [], kind
        )
        await FileClientStore(str(self.clients_file)).put(record)
        return RegisteredClient(record.client_id, secret)


@pytest.fixture(scope="session")
def auth_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("auth")
    return directory / "clients.json", write_rsa_key(directory / "signing.pem")


@pytest.fixture(scope="session")
async def auth_gateway(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path]) -> AsyncIterator[AuthGateway]:
    clients_file, key_file = auth_files
    async with serve_gateway(
        **subsystem_settings(sandbox_urls),
        auth_anonymous="off",
        oauth_issuer=ISSUER,
        oauth_clients_file=str(clients_file),
        oauth_signing_key_files=[str(key_file)],
        rate_limit_ip_requests=100_000,
        rate_limit_client_requests=100_000,
    ) as running:
        yield AuthGateway(running, clients_file, key_file)


@pytest.fixture(scope="session")
def auth_redis_url() -> Iterator[str]:
    with redis_url_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
async def idp() -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider([IdpKey.rsa(), IdpKey.ec()])
    await provider.start()
    yield provider
    await provider.close()


@pytest.fixture(scope="session")
async def idp_gateway(
    sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path], idp: IdentityProvider
) -> AsyncIterator[AuthGateway]:
    """A gateway that trusts the test identity provider; unknown key ids refetch at most hourly."""
    clients_file, key_file = auth_files
    async with serve_gateway(
        **subsystem_settings(sandbox_urls),
        auth_anonymous="off",
        oauth_issuer=ISSUER,
        oauth_clients_file=str(clients_file),
        oauth_signing_key_files=[str(key_file)],
        auth_issuers=[idp.issuer_settings()],
        auth_jwks_min_refetch_s=3600,
        rate_limit_ip_requests=100_000,
        rate_limit_client_requests=100_000,
    ) as running:
        yield AuthGateway(running, clients_file, key_file)


async def find_alert(gateway: AuthGateway, farm: str, status: str | None = None) -> tuple[str, str]:
    """Return the id and status of the newest alert of `farm` (in `status` when given).

    The sandbox generates alerts relative to the current time, so tests look ids up rather than
    hard-code them.
    """
    import httpx

    client = await gateway.register("alerts:read", farms=["*"])
    async with httpx.AsyncClient() as http:
        token = (
            await http.post(
                gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
            )
        ).json()["access_token"]
        statuses = f", status: [{status}]" if status else ""
        response = await http.post(
            f"{gateway.url}/graphql",
            json={
                "query": f'{{ alerts(farmId: "{farm}", first: 1{statuses}) {{ edges {{ node {{ id status }} }} }} }}'
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    node = response.json()["data"]["alerts"]["edges"][0]["node"]
    return str(node["id"]), str(node["status"])
