"""External identity providers: JWKS fetched from a loopback aiohttp server, cached, and
refetched for unknown key ids at most once per interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox.server import SandboxUrls
from tests.auth.idp import IdentityProvider, IdpKey, user_claims
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway

QUERY = "{ farms(first: 50) { edges { node { id } } } }"


async def status_for(gateway: RunningGateway, token: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            gateway.graphql_url, json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status


@pytest.fixture
async def fresh_idp() -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider([IdpKey.rsa()])
    await provider.start()
    yield provider
    await provider.close()


def idp_settings(sandbox_urls: SandboxUrls, provider: IdentityProvider, **overrides: Any) -> dict[str, Any]:
    return {
        **subsystem_settings(sandbox_urls),
        "auth_anonymous": "off",
        "auth_issuers": [provider.issuer_settings()],
        "rate_limit_ip_requests": 100_000,
        **overrides,
    }


async def test_unknown_kids_fetch_once(sandbox_urls: SandboxUrls, fresh_idp: IdentityProvider):
    strangers = [IdpKey.rsa() for _ in range(3)]
    async with serve_gateway(**idp_settings(sandbox_urls, fresh_idp, auth_jwks_min_refetch_s=3600)) as gateway:
        first = await status_for(gateway, fresh_idp.keys[0].token(user_claims()))
        statuses = await asyncio.gather(
            *(status_for(gateway, strangers[index % 3].token(user_claims())) for index in range(30))
        )

    assert first == 200
    assert set(statuses) == {401}
    assert fresh_idp.hits["/jwks"] == 1


async def test_concurrent_first_use_fetches_once(sandbox_urls: SandboxUrls, fresh_idp: IdentityProvider):
    async with serve_gateway(**idp_settings(sandbox_urls, fresh_idp, auth_jwks_min_refetch_s=3600)) as gateway:
        statuses = await asyncio.gather(
            *(status_for(gateway, fresh_idp.keys[0].token(user_claims())) for _ in range(20))
        )

    assert set(statuses) == {200}
    assert fresh_idp.hits["/jwks"] == 1


async def test_rotated_idp_key_refetched(sandbox_urls: SandboxUrls, fresh_idp: IdentityProvider):
    async with serve_gateway(**idp_settings(sandbox_urls, fresh_idp, auth_jwks_min_refetch_s=0.3)) as gateway:
        assert await status_for(gateway, fresh_idp.keys[0].token(user_claims())) == 200
        rotated = IdpKey.ec()
        fresh_idp.keys.append(rotated)
        await asyncio.sleep(0.4)
        statuses = await asyncio.gather(*(status_for(gateway, rotated.token(user_claims())) for _ in range(10)))

    assert set(statuses) == {200}
    assert fresh_idp.hits["/jwks"] == 2


async def test_jwks_down_keeps_cached_keys(sandbox_urls: SandboxUrls, fresh_idp: IdentityProvider):
    async with serve_gateway(
        **idp_settings(sandbox_urls, fresh_idp, auth_jwks_min_refetch_s=0.1, auth_jwks_refresh_s=0.2)
    ) as gateway:
        assert await status_for(gateway, fresh_idp.keys[0].token(user_claims())) == 200
        await fresh_idp.close()
        await asyncio.sleep(0.3)
        status = await status_for(gateway, fresh_idp.keys[0].token(user_claims()))

    assert status == 200


async def test_hmac_issuer_config_rejected(sandbox_urls: SandboxUrls, fresh_idp: IdentityProvider):
    from common.errors import ConfigError
    from gateway.settings import load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings({}, auth_issuers=[fresh_idp.issuer_settings(algorithms=["RS256", "HS256"])])

    assert "HS256" in raised.value.message
    assert "FISHWATCH_AUTH_ISSUERS" in raised.value.message


async def test_issuers_from_environment_json(fresh_idp: IdentityProvider):
    import json

    from gateway.settings import load_settings

    settings = load_settings({"FISHWATCH_AUTH_ISSUERS": json.dumps([fresh_idp.issuer_settings(farms_claim="tenants")])})

    assert settings.auth_issuers[0].farms_claim == "tenants"
    assert str(settings.auth_issuers[0].jwks_url) == fresh_idp.jwks_url
