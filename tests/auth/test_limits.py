"""Abuse limits: rate limits per client and per IP (in memory and shared through Redis),
persisted queries, the cost limit, and introspection and GraphiQL per caller kind."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxUrls
from tests.auth.conftest import ISSUER, AuthGateway
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway

QUERY = "{ farms(first: 1) { edges { node { id } } } }"


async def token_of(gateway: AuthGateway, scopes: str = "farms:read") -> str:
    client = await gateway.register(scopes)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
    return str(response.json()["access_token"])


async def post(url: str, body: dict[str, Any], token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers)


def limited_settings(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path], **overrides: Any) -> dict[str, Any]:
    clients_file, key_file = auth_files
    return {
        **subsystem_settings(sandbox_urls),
        "auth_anonymous": "off",
        "oauth_issuer": ISSUER,
        "oauth_clients_file": str(clients_file),
        "oauth_signing_key_files": [str(key_file)],
        # An hour-long window, so a test never straddles two windows.
        "rate_limit_window_s": 3600,
        **overrides,
    }


async def test_client_rate_limit_429(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path]):
    async with serve_gateway(**limited_settings(sandbox_urls, auth_files, rate_limit_client_requests=3)) as running:
        gateway = AuthGateway(running, *auth_files)
        token = await token_of(gateway)
        responses = [await post(running.graphql_url, {"query": QUERY}, token) for _ in range(4)]

    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert [response.headers["ratelimit-remaining"] for response in responses] == ["2", "1", "0", "0"]
    limited = responses[-1]
    assert limited.headers["ratelimit-limit"] == "3"
    assert limited.headers["ratelimit-policy"] == "3;w=3600"
    assert 0 < int(limited.headers["retry-after"]) <= 3600
    assert limited.headers["retry-after"] == limited.headers["ratelimit-reset"]
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_ip_rate_limit_before_auth(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path]):
    async with serve_gateway(**limited_settings(sandbox_urls, auth_files, rate_limit_ip_requests=2)) as running:
        statuses = [
            (await post(running.graphql_url, {"query": QUERY}, "forged.token.value")).status_code for _ in range(3)
        ]
        health = await httpx.AsyncClient().get(f"{running.url}/healthz")

    assert statuses == [401, 401, 429]
    assert health.status_code == 200


async def test_rate_limit_shared_by_replicas(
    sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path], auth_redis_url: str
):
    settings = limited_settings(
        sandbox_urls,
        auth_files,
        auth_redis_url=auth_redis_url,
        auth_redis_prefix=f"fwtest-{uuid.uuid4().hex}:",
        rate_limit_client_requests=3,
        oauth_clients_file=str(auth_files[0]),
    )
    async with serve_gateway(**settings) as first, serve_gateway(**settings) as second:
        from gateway.auth.clients import RedisClientStore, new_client
        from gateway.auth.runtime import open_redis

        redis = open_redis(auth_redis_url)
        record, secret = new_client("shared limit", ["farms:read"], ["*"], [], "client")
        await RedisClientStore(redis, settings["auth_redis_prefix"]).put(record)
        await redis.aclose()
        async with httpx.AsyncClient() as http:
            token = (
                await http.post(
                    f"{first.url}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(record.client_id, secret),
                )
            ).json()["access_token"]
        statuses = [
            (await post(gateway.graphql_url, {"query": QUERY}, token)).status_code
            for gateway in (first, second, first, second)
        ]

    assert statuses == [200, 200, 200, 429]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_persisted_query_flow(auth_gateway: AuthGateway):
    token = await token_of(auth_gateway)
    query = "{ farms(first: 1) { edges { node { name } } } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    url = f"{auth_gateway.url}/graphql"

    missing = await post(url, {"extensions": extensions}, token)
    registered = await post(url, {"query": query, "extensions": extensions}, token)
    by_hash = await post(url, {"extensions": extensions}, token)

    assert missing.status_code == 200
    assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert registered.json()["data"] == by_hash.json()["data"]
    assert by_hash.json()["data"]["farms"]["edges"][0]["node"]["name"]


async def test_persisted_query_over_get(auth_gateway: AuthGateway):
    token = await token_of(auth_gateway)
    query = "{ farms(first: 2) { edges { node { id } } } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    await post(f"{auth_gateway.url}/graphql", {"query": query, "extensions": extensions}, token)
    import json

    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{auth_gateway.url}/graphql",
            params={"extensions": json.dumps(extensions)},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert response.status_code == 200
    assert len(response.json()["data"]["farms"]["edges"]) == 2


async def test_persisted_hash_mismatch(auth_gateway: AuthGateway):
    token = await token_of(auth_gateway)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256("{ other }")}}
    response = await post(f"{auth_gateway.url}/graphql", {"query": QUERY, "extensions": extensions}, token)

    assert response.json()["errors"][0]["extensions"]["reason"] == "PERSISTED_QUERY_HASH_MISMATCH"


@pytest.fixture(scope="module")
async def strict_gateway(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path]) -> AsyncIterator[AuthGateway]:
    async with serve_gateway(
        **limited_settings(sandbox_urls, auth_files, persisted_queries_only_callers=["client"], max_query_cost=500)
    ) as running:
        yield AuthGateway(running, *auth_files)


async def test_persisted_only_client(strict_gateway: AuthGateway):
    client_token = await token_of(strict_gateway)
    subsystem = await strict_gateway.register("farms:read", kind="subsystem")
    async with httpx.AsyncClient() as http:
        subsystem_token = (
            await http.post(
                strict_gateway.token_url,
                data={"grant_type": "client_credentials"},
                auth=(subsystem.client_id, subsystem.secret),
            )
        ).json()["access_token"]
    query = "{ farms(first: 3) { edges { node { id } } } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    url = f"{strict_gateway.url}/graphql"

    plain = await post(url, {"query": query}, client_token)
    unregistered = await post(url, {"query": query, "extensions": extensions}, client_token)
    registered = await post(url, {"query": query, "extensions": extensions}, subsystem_token)
    by_hash = await post(url, {"extensions": extensions}, client_token)

    assert plain.status_code == 403
    assert plain.json()["errors"][0]["extensions"]["reason"] == "PERSISTED_QUERY_REQUIRED"
    assert unregistered.status_code == 403
    assert len(registered.json()["data"]["farms"]["edges"]) == 3
    assert by_hash.json()["data"] == registered.json()["data"]


async def test_cost_limit_error(strict_gateway: AuthGateway):
    subsystem = await strict_gateway.register("farms:read", kind="subsystem")
    async with httpx.AsyncClient() as http:
        token = (
            await http.post(
                strict_gateway.token_url,
                data={"grant_type": "client_credentials"},
                auth=(subsystem.client_id, subsystem.secret),
            )
        ).json()["access_token"]
    query = (
        "query Big($n: Int!, $m: Int!) { farms(first: $n) { ...F } } "
        "fragment F on FarmConnection { edges { node { enclosures(first: $m) { nodes { id stocks { species } } } } } }"
    )
    url = f"{strict_gateway.url}/graphql"
    # Cost: farms n, edges and nodes 2n, enclosures n*m, their nodes n*m, stocks 10 per enclosure.
    cheap = await post(url, {"query": query, "variables": {"n": 2, "m": 5}}, token)
    costly = await post(url, {"query": query, "variables": {"n": 20, "m": 50}}, token)

    error = costly.json()["errors"][0]
    assert "data" in cheap.json()
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "cost",
        "maximum": 500,
        "cost": error["extensions"]["cost"],
    }
    assert error["extensions"]["cost"] > 500
    assert "operation 'Big' costs" in error["message"]


async def test_introspection_off_for_clients(auth_gateway: AuthGateway):
    token = await token_of(auth_gateway)
    response = await post(f"{auth_gateway.url}/graphql", {"query": "{ __schema { types { name } } }"}, token)
    nested = await post(
        f"{auth_gateway.url}/graphql",
        {"query": 'query { ...T } fragment T on Query { __type(name: "Farm") { name } }'},
        token,
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["reason"] == "INTROSPECTION_DISABLED"
    assert nested.status_code == 403


async def test_introspection_on_for_users(idp_gateway: AuthGateway, idp):
    from tests.auth.idp import user_claims

    token = idp.keys[0].token(user_claims())
    response = await post(f"{idp_gateway.url}/graphql", {"query": '{ __type(name: "Farm") { name } }'}, token)

    assert response.json()["data"] == {"__type": {"name": "Farm"}}


async def test_graphiql_closed_to_clients(auth_gateway: AuthGateway):
    token = await token_of(auth_gateway)
    async with httpx.AsyncClient() as http:
        page = await http.get(
            f"{auth_gateway.url}/graphql", headers={"Accept": "text/html", "Authorization": f"Bearer {token}"}
        )

    assert page.status_code == 403


async def test_anonymous_graphiql_on_embedded_default(gateway: RunningGateway):
    async with httpx.AsyncClient() as http:
        page = await http.get(gateway.graphql_url, headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_persisted_queries_shared_by_replicas(
    sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path], auth_redis_url: str
):
    settings = limited_settings(
        sandbox_urls,
        auth_files,
        auth_anonymous="on",
        auth_redis_url=auth_redis_url,
        auth_redis_prefix=f"fwtest-{uuid.uuid4().hex}:",
    )
    query = "{ farms(first: 1) { edges { node { region } } } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    async with serve_gateway(**settings) as first, serve_gateway(**settings) as second:
        missing = await post(second.graphql_url, {"extensions": extensions})
        await post(first.graphql_url, {"query": query, "extensions": extensions})
        found = await post(second.graphql_url, {"extensions": extensions})

    assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert found.json()["data"]["farms"]["edges"][0]["node"]["region"]
