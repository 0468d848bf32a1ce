"""The client credentials grant, introspection, revocation, JWKS and metadata, driven by
Authlib's OAuth 2.0 client and plain HTTP against a real gateway."""

from __future__ import annotations

import base64
import json

import aiohttp
import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.auth.conftest import AUDIENCE, ISSUER, AuthGateway

FARMS_QUERY = "{ farms(first: 2) { edges { node { id name } } } }"


def decode_segment(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


async def test_token_basic_then_query(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read alerts:read")
    async with AsyncOAuth2Client(
        client.client_id, client.secret, token_endpoint_auth_method="client_secret_basic"
    ) as oauth:
        token = await oauth.fetch_token(auth_gateway.token_url, grant_type="client_credentials")
        response = await oauth.post(f"{auth_gateway.url}/graphql", json={"query": FARMS_QUERY})

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "farms:read alerts:read"
    assert response.status_code == 200
    assert len(response.json()["data"]["farms"]["edges"]) == 2
    assert response.headers["ratelimit-limit"] == "100000"


async def test_token_post_auth_with_scope(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read alerts:read")
    async with AsyncOAuth2Client(
        client.client_id, client.secret, scope="farms:read", token_endpoint_auth_method="client_secret_post"
    ) as oauth:
        token = await oauth.fetch_token(auth_gateway.token_url, grant_type="client_credentials")
        response = await oauth.post(
            f"{auth_gateway.url}/graphql", json={"query": "{ alerts(first: 1) { totalCount } }"}
        )

    assert token["scope"] == "farms:read"
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["missing_scopes"] == ["alerts:read"]
    assert "alerts:read" in body["errors"][0]["message"]


async def test_token_is_rfc9068_jwt(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read")
    async with AsyncOAuth2Client(client.client_id, client.secret) as oauth:
        token = await oauth.fetch_token(auth_gateway.token_url, grant_type="client_credentials")
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(f"{auth_gateway.url}/.well-known/jwks.json")).json()

    header_segment, payload_segment, _ = token["access_token"].split(".")
    header, claims = decode_segment(header_segment), decode_segment(payload_segment)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] in [key["kid"] for key in jwks["keys"]]
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == client.client_id
    assert claims["client_id"] == client.client_id
    assert claims["scope"] == "farms:read"
    assert claims["exp"] - claims["iat"] == 3600
    assert len(claims["jti"]) == 32
    assert all("d" not in key for key in jwks["keys"])


async def post_form(url: str, data: dict, auth: tuple[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        if auth is None:
            return await http.post(url, data=data)
        return await http.post(url, data=data, auth=auth)


async def test_wrong_secret_basic_is_401(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    response = await post_form(
        auth_gateway.token_url, {"grant_type": "client_credentials"}, (client.client_id, "not-the-secret")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"


async def test_wrong_secret_post_is_400(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    response = await post_form(
        auth_gateway.token_url,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": "wrong"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


async def test_unknown_client_is_invalid_client(auth_gateway: AuthGateway):
    response = await post_form(auth_gateway.token_url, {"grant_type": "client_credentials"}, ("fw-nobody", "x"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_no_credentials_is_401(auth_gateway: AuthGateway):
    response = await post_form(auth_gateway.token_url, {"grant_type": "client_credentials"})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")


async def test_password_grant_unsupported(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    response = await post_form(
        auth_gateway.token_url,
        {"grant_type": "password", "username": "a", "password": "b"},
        (client.client_id, client.secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_missing_grant_type_invalid_request(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    response = await post_form(auth_gateway.token_url, {}, (client.client_id, client.secret))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_scope_not_granted_invalid_scope(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read")
    response = await post_form(
        auth_gateway.token_url,
        {"grant_type": "client_credentials", "scope": "farms:read alerts:write"},
        (client.client_id, client.secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "alerts:write" in response.json()["error_description"]


async def test_scope_with_quotes_invalid_scope(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read")
    response = await post_form(
        auth_gateway.token_url,
        {"grant_type": "client_credentials", "scope": 'farms:read "x\\y'},
        (client.client_id, client.secret),
    )

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_scope", "error_description": "the client may not request: xy"}


async def test_repeated_parameter_invalid_request(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            auth_gateway.token_url,
            content="grant_type=client_credentials&grant_type=client_credentials",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=(client.client_id, client.secret),
        )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_json_body_invalid_request(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            auth_gateway.token_url, json={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_metadata_document(auth_gateway: AuthGateway):
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(f"{auth_gateway.url}/.well-known/oauth-authorization-server")).json()

    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert "events:publish" in metadata["scopes_supported"]


async def fetch_token(gateway: AuthGateway, client) -> str:
    async with AsyncOAuth2Client(client.client_id, client.secret) as oauth:
        token = await oauth.fetch_token(gateway.token_url, grant_type="client_credentials")
    return str(token["access_token"])


async def test_introspect_own_token(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read")
    token = await fetch_token(auth_gateway, client)
    response = await post_form(
        f"{auth_gateway.url}/oauth/introspect", {"token": token}, (client.client_id, client.secret)
    )

    body = response.json()
    assert response.status_code == 200
    assert body["active"] is True
    assert body["client_id"] == client.client_id
    assert body["scope"] == "farms:read"
    assert body["token_type"] == "Bearer"


async def test_introspect_other_client_inactive(auth_gateway: AuthGateway):
    owner = await auth_gateway.register()
    other = await auth_gateway.register()
    token = await fetch_token(auth_gateway, owner)
    response = await post_form(
        f"{auth_gateway.url}/oauth/introspect", {"token": token}, (other.client_id, other.secret)
    )

    assert response.json() == {"active": False}


async def test_introspect_by_subsystem_active(auth_gateway: AuthGateway):
    owner = await auth_gateway.register("farms:read")
    subsystem = await auth_gateway.register("events:publish", kind="subsystem")
    token = await fetch_token(auth_gateway, owner)
    response = await post_form(
        f"{auth_gateway.url}/oauth/introspect", {"token": token}, (subsystem.client_id, subsystem.secret)
    )

    assert response.json()["active"] is True
    assert response.json()["client_id"] == owner.client_id


async def test_revoke_other_clients_token_ignored(auth_gateway: AuthGateway):
    owner = await auth_gateway.register("farms:read")
    other = await auth_gateway.register("farms:read")
    token = await fetch_token(auth_gateway, owner)
    revoke = await post_form(f"{auth_gateway.url}/oauth/revoke", {"token": token}, (other.client_id, other.secret))
    introspection = await post_form(
        f"{auth_gateway.url}/oauth/introspect", {"token": token}, (owner.client_id, owner.secret)
    )

    assert revoke.status_code == 200
    assert introspection.json()["active"] is True


async def test_introspect_garbage_inactive(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    response = await post_form(
        f"{auth_gateway.url}/oauth/introspect", {"token": "abc.def.ghi"}, (client.client_id, client.secret)
    )

    assert response.json() == {"active": False}


async def test_introspect_needs_client_auth(auth_gateway: AuthGateway):
    response = await post_form(f"{auth_gateway.url}/oauth/introspect", {"token": "abc"})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_revoked_token_rejected(auth_gateway: AuthGateway):
    client = await auth_gateway.register("farms:read")
    token = await fetch_token(auth_gateway, client)
    async with httpx.AsyncClient() as http:
        first = await http.post(
            f"{auth_gateway.url}/graphql", json={"query": FARMS_QUERY}, headers={"Authorization": f"Bearer {token}"}
        )
    revoke = await post_form(f"{auth_gateway.url}/oauth/revoke", {"token": token}, (client.client_id, client.secret))
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{auth_gateway.url}/graphql", json={"query": FARMS_QUERY}, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            status, challenge = response.status, response.headers["WWW-Authenticate"]
    introspection = await post_form(
        f"{auth_gateway.url}/oauth/introspect", {"token": token}, (client.client_id, client.secret)
    )

    assert first.status_code == 200
    assert revoke.status_code == 200
    assert status == 401
    assert 'error="invalid_token"' in challenge
    assert "revoked" in challenge
    assert introspection.json() == {"active": False}


async def test_revoke_unknown_token_is_200(auth_gateway: AuthGateway):
    client = await auth_gateway.register()
    response = await post_form(
        f"{auth_gateway.url}/oauth/revoke", {"token": "not-a-token"}, (client.client_id, client.secret)
    )

    assert response.status_code == 200
