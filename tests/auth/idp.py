"""A test identity provider: RSA and EC keys generated in the test, a JWKS served by aiohttp on
loopback, and a JWS signer built on `cryptography` so tests can also forge malformed tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

IDP_ISSUER = "https://idp.fishwatch.test/realms/farms"
IDP_AUDIENCE = "fishwatch-dashboard"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def encode_jws(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """Assemble a compact JWS; `sign` maps the signing input to signature bytes (or b"")."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def hs256_signer(secret: bytes) -> Any:
    def sign(data: bytes) -> bytes:
        mac = hmac.HMAC(secret, hashes.SHA256())
        mac.update(data)
        return mac.finalize()

    return sign


@dataclass
class IdpKey:
    """A key pair generated in the test, with its key id."""

    kid: str
    private: Any
    alg: str

    @classmethod
    def rsa(cls) -> IdpKey:
        return cls(uuid.uuid4().hex[:16], rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    @classmethod
    def ec(cls) -> IdpKey:
        return cls(uuid.uuid4().hex[:16], ec.generate_private_key(ec.SECP256R1()), "ES256")

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg == "RS256":
            numbers = public.public_numbers()
            return {
                "kty": "RSA",
                "kid": self.kid,
                "use": "sig",
                "alg": "RS256",
                "n": b64url_int(numbers.n),
                "e": b64url_int(numbers.e),
            }
        numbers = public.public_numbers()
        return {
            "kty": "EC",
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    def sign(self, data: bytes) -> bytes:
        if self.alg == "RS256":
            return bytes(self.private.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def token(self, claims: dict[str, Any], **header: Any) -> str:
        return encode_jws({"alg": self.alg, "typ": "JWT", "kid": self.kid, **header}, claims, self.sign)


def user_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": IDP_ISSUER,
        "aud": IDP_AUDIENCE,
        "sub": "user-ingrid",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "scope": "farms:read alerts:read",
        "farms": ["farm-001"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


@dataclass
class IdentityProvider:
    """Serves `/jwks` with the current keys and counts every request it gets, by path."""

    keys: list[IdpKey]
    url: str = ""
    hits: dict[str, int] = field(default_factory=dict)
    runner: web.AppRunner | None = None

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    async def _serve(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        if request.path == "/jwks":
            return web.json_response({"keys": [key.public_jwk() for key in self.keys]})
        # Anything else is a key URL that a forged token named (jku, x5u): it must never be asked for.
        return web.json_response({"keys": []})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def issuer_settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "issuer": IDP_ISSUER,
            "audience": IDP_AUDIENCE,
            "jwks_url": self.jwks_url,
            "algorithms": ["RS256", "ES256"],
            **overrides,
        }


def public_key_encodings(jwk: dict[str, Any]) -> dict[str, bytes]:
    """Encode an RSA public JWK as PEM, as base64 DER and as JWK JSON: the HMAC secrets of a
    key-confusion forgery."""
    public = rsa.RSAPublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(jwk["e"] + "=="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big"),
    ).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return {
        "pem": pem,
        "pem-pkcs1": pkcs1,
        "der-base64": base64.b64encode(der),
        "jwk-json": json.dumps(jwk).encode(),
    }
