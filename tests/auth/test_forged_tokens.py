"""Forged, broken and misdirected bearer tokens: each gets 401 with `error="invalid_token"`.

The gateway trusts its own issuer and one test identity provider. Forgeries use only what an
outsider has: the public keys from the gateway's JWKS and keys of their own.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import aiohttp
import httpx
import pytest

from tests.auth.conftest import AUDIENCE, ISSUER, AuthGateway
from tests.auth.idp import (
    IdentityProvider,
    IdpKey,
    b64url,
    encode_jws,
    hs256_signer,
    public_key_encodings,
    user_claims,
)

FARMS_QUERY = "{ farms(first: 50) { edges { node { id } } } }"


async def call_graphql(gateway: AuthGateway, token: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway.url}/graphql", json={"query": FARMS_QUERY}, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status, dict(response.headers), await response.json(content_type=None)


async def gateway_jwk(gateway: AuthGateway) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.url}/.well-known/jwks.json") as response:
            return dict((await response.json(content_type=None))["keys"][0])


def own_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "fw-forger",
        "client_id": "fw-forger",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "f" * 32,
        "scope": "farms:read alerts:write",
        "fw_farms": ["*"],
    }
    claims.update(overrides)
    return claims


def tampered(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def assert_invalid_token(status: int, headers: dict[str, str], body: dict[str, Any], fragment: str) -> None:
    challenge = headers["WWW-Authenticate"]
    assert status == 401
    assert challenge.startswith('Bearer realm="fishwatch"')
    assert 'error="invalid_token"' in challenge
    assert fragment in challenge
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_rejected(idp_gateway: AuthGateway, alg: str):
    jwk = await gateway_jwk(idp_gateway)
    token = encode_jws({"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]}, own_claims(), lambda _data: b"")

    assert_invalid_token(*await call_graphql(idp_gateway, token), "is not allowed for key")


@pytest.mark.parametrize("encoding", ["pem", "pem-pkcs1", "der-base64", "jwk-json"])
async def test_hs256_with_public_key_rejected(idp_gateway: AuthGateway, encoding: str):
    jwk = await gateway_jwk(idp_gateway)
    secret = public_key_encodings(jwk)[encoding]
    token = encode_jws({"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}, own_claims(), hs256_signer(secret))

    assert_invalid_token(*await call_graphql(idp_gateway, token), "HS256")


@pytest.mark.parametrize("encoding", ["pem", "der-base64", "jwk-json"])
async def test_hs256_with_idp_public_key_rejected(idp_gateway: AuthGateway, idp: IdentityProvider, encoding: str):
    jwk = idp.keys[0].public_jwk()
    token = encode_jws(
        {"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]},
        user_claims(),
        hs256_signer(public_key_encodings(jwk)[encoding]),
    )

    assert_invalid_token(*await call_graphql(idp_gateway, token), "HS256")


BROKEN_USER_TOKENS: dict[str, tuple[dict[str, Any], str]] = {
    "expired": (dict(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200, nbf=None), "expired"),
    "not yet valid": (dict(nbf=int(time.time()) + 3600), "claims are invalid"),
    "no exp": (dict(exp=None), "has no exp claim"),
    "wrong audience": (dict(aud="someone-else"), "claims are invalid"),
    "wrong issuer": (dict(iss="https://idp.elsewhere.test/"), "issuer is not one this gateway trusts"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_USER_TOKENS))
async def test_broken_user_token_rejected(idp_gateway: AuthGateway, idp: IdentityProvider, case: str):
    overrides, fragment = BROKEN_USER_TOKENS[case]
    token = idp.keys[0].token(user_claims(**overrides))

    assert_invalid_token(*await call_graphql(idp_gateway, token), fragment)


async def test_unknown_kid_rejected(idp_gateway: AuthGateway):
    stranger = IdpKey.rsa()
    token = stranger.token(user_claims())

    assert_invalid_token(*await call_graphql(idp_gateway, token), "key id is not among the keys")


async def test_unknown_kid_own_issuer_rejected(idp_gateway: AuthGateway):
    stranger = IdpKey.rsa()
    token = encode_jws({"alg": "RS256", "typ": "at+jwt", "kid": stranger.kid}, own_claims(), stranger.sign)

    assert_invalid_token(*await call_graphql(idp_gateway, token), "not one of the gateway")


async def test_tampered_payload_rejected(idp_gateway: AuthGateway, idp: IdentityProvider):
    token = tampered(idp.keys[0].token(user_claims()), farms=["farm-001", "farm-016"], scope="alerts:write")

    assert_invalid_token(*await call_graphql(idp_gateway, token), "signature is invalid")


async def test_own_kid_with_foreign_signature_rejected(idp_gateway: AuthGateway):
    jwk = await gateway_jwk(idp_gateway)
    stranger = IdpKey.rsa()
    token = encode_jws({"alg": "RS256", "typ": "at+jwt", "kid": jwk["kid"]}, own_claims(), stranger.sign)

    assert_invalid_token(*await call_graphql(idp_gateway, token), "signature is invalid")


@pytest.mark.parametrize("parameter", ["jwk", "jku", "x5u", "x5c"])
async def test_key_in_header_never_used(idp_gateway: AuthGateway, idp: IdentityProvider, parameter: str):
    attacker = IdpKey.rsa()
    values = {
        "jwk": attacker.public_jwk(),
        "jku": f"{idp.url}/attacker-jwks",
        "x5u": f"{idp.url}/attacker-cert.pem",
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }
    token = attacker.token(user_claims(), **{parameter: values[parameter]})
    before = dict(idp.hits)

    assert_invalid_token(*await call_graphql(idp_gateway, token), f"carries '{parameter}'")
    assert idp.hits.get("/attacker-jwks", 0) == 0
    assert idp.hits.get("/attacker-cert.pem", 0) == 0
    assert idp.hits.get("/jwks", 0) == before.get("/jwks", 0)


async def test_id_token_type_rejected_for_own_issuer(idp_gateway: AuthGateway):
    client = await idp_gateway.register("farms:read")
    async with httpx.AsyncClient() as http:
        response = await http.post(
            idp_gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
        token = response.json()["access_token"]
    header, payload, signature = token.split(".")
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    new_header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    retyped = f"{new_header}.{payload}.{signature}"

    assert_invalid_token(*await call_graphql(idp_gateway, retyped), "typ header must be at+jwt")


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt", "Bearer a.b"])
async def test_malformed_authorization_rejected(idp_gateway: AuthGateway, value: str):
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{idp_gateway.url}/graphql", json={"query": FARMS_QUERY}, headers={"Authorization": value}
        ) as response:
            status, headers = response.status, dict(response.headers)

    assert status == 401
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]


async def test_missing_token_challenge_without_error(idp_gateway: AuthGateway):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{idp_gateway.url}/graphql", json={"query": FARMS_QUERY}) as response:
            status, headers, body = response.status, dict(response.headers), await response.json()

    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="fishwatch"'
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("key_index", [0, 1])
async def test_valid_user_token_accepted(idp_gateway: AuthGateway, idp: IdentityProvider, key_index: int):
    token = idp.keys[key_index].token(user_claims())
    status, _, body = await call_graphql(idp_gateway, token)

    assert status == 200
    assert [edge["node"]["id"] for edge in body["data"]["farms"]["edges"]] == ["farm-001"]


async def test_small_clock_skew_tolerated(idp_gateway: AuthGateway, idp: IdentityProvider):
    token = idp.keys[0].token(user_claims(exp=int(time.time()) - 5))
    status, _, body = await call_graphql(idp_gateway, token)

    assert status == 200
    assert body["data"]["farms"]["edges"]


async def test_unconfigured_algorithm_rejected(idp_gateway: AuthGateway, idp: IdentityProvider):
    key = idp.keys[0]
    token = encode_jws({"alg": "RS512", "typ": "JWT", "kid": key.kid}, user_claims(), key.sign)

    assert_invalid_token(*await call_graphql(idp_gateway, token), "is not allowed for key")
