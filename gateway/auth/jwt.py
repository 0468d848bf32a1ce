"""JWS signing and verification: the only module that imports python-jose.

python-jose is barely maintained, so the rest of the gateway uses only this module's types and
`InvalidTokenError`. Each key carries the algorithms its configuration allows. Verification
passes python-jose one of them alone, with the key built for it, so a token's `alg` header can
only pick among what configuration allows for that key.
A token's header is read only to pick a configured key by `kid`. A token that names a key of its
own (`jwk`, `jku`, `x5u`, `x5c`) is rejected before any key is looked up.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk as jose_jwk
from jose import jws as jose_jws
from jose import jwt as jose_jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

from common.errors import AuthConfigError, InvalidTokenError

# Asymmetric algorithms the gateway signs or verifies with. `none` and every HMAC algorithm are
# absent on purpose: with public keys published, HMAC would let anyone who reads the JWKS sign.
SUPPORTED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
# Header parameters that carry or point to a key (RFC 7515 §4.1.3 to §4.1.6).
KEY_BEARING_HEADERS = ("jwk", "jku", "x5u", "x5c")
_CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


@dataclass(frozen=True)
class VerificationKey:
    """A public key with its key id and the algorithms it may verify."""

    kid: str
    algorithms: tuple[str, ...]
    public_jwk: dict[str, Any]
    keys: tuple[Key, ...]


@dataclass(frozen=True)
class SigningKey:
    """A private key with its key id and algorithm, and the public half to publish."""

    kid: str
    algorithm: str
    private: Key
    verification: VerificationKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """Compute the RFC 7638 SHA-256 thumbprint of a public JWK, used as its key id."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[public_jwk["kty"]]
    canonical = json.dumps({name: public_jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _public_jwk(private_pem: bytes) -> tuple[dict[str, Any], str]:
    """Return the public JWK of a PEM private key and the algorithm its type implies."""
    loaded = serialization.load_pem_private_key(private_pem, password=None)
    if isinstance(loaded, rsa.RSAPrivateKey):
        if loaded.key_size < 2048:
            raise AuthConfigError(f"the RSA signing key has {loaded.key_size} bits; use at least 2048")
        algorithm = "RS256"
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        algorithm = _CURVE_ALGORITHMS.get(
            {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(loaded.curve.name, ""), ""
        )
        if not algorithm:
            raise AuthConfigError(f"the EC signing key is on curve {loaded.curve.name}; use P-256, P-384 or P-521")
    else:
        raise AuthConfigError(f"signing keys must be RSA or EC, got {type(loaded).__name__}")
    public_pem = loaded.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = jose_jwk.construct(public_pem, algorithm).to_dict()
    return {name: value for name, value in public.items() if name != "alg"}, algorithm


def load_signing_key(private_pem: bytes) -> SigningKey:
    """Load a PEM private key (RSA 2048+ or EC P-256/384/521, unencrypted) for signing tokens.

    RSA keys sign with RS256 and EC keys with the ES algorithm of their curve.
    """
    try:
        public, algorithm = _public_jwk(private_pem)
        private = jose_jwk.construct(private_pem, algorithm)
    except (ValueError, TypeError, JOSEError) as exc:
        raise AuthConfigError(f"the signing key is not a PEM RSA or EC private key: {exc}") from exc
    kid = thumbprint(public)
    public = {**public, "kid": kid, "alg": algorithm, "use": "sig"}
    verification = VerificationKey(kid, (algorithm,), public, (jose_jwk.construct(public, algorithm),))
    return SigningKey(kid, algorithm, private, verification)


def generate_signing_key(algorithm: str = "RS256") -> SigningKey:
    """Generate a fresh signing key: RSA 2048 for RS256, P-256 for ES256."""
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise AuthConfigError(f"cannot generate a key for {algorithm}; use RS256 or ES256")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return load_signing_key(pem)


def verification_key_from_jwk(public_jwk: dict[str, Any], allowed: tuple[str, ...]) -> VerificationKey | None:
    """Build a verification key from a JWKS entry, or None when no allowed algorithm fits it.

    The algorithm comes from the issuer's allow-list, narrowed by the key's type and its `alg`
    member when present. Symmetric (`oct`) keys and private members are never accepted.
    """
    kty = public_jwk.get("kty")
    kid = public_jwk.get("kid")
    if not isinstance(kid, str) or kty not in ("RSA", "EC") or "d" in public_jwk:
        return None
    if kty == "RSA":
        candidates = [name for name in allowed if name[:2] in ("RS", "PS")]
    else:
        candidates = [name for name in allowed if name == _CURVE_ALGORITHMS.get(str(public_jwk.get("crv")))]
    declared = public_jwk.get("alg")
    if declared is not None:
        candidates = [name for name in candidates if name == declared]
    if not candidates:
        return None
    try:
        keys = tuple(jose_jwk.construct(public_jwk, name) for name in candidates)
    except (JOSEError, ValueError, TypeError):
        return None
    return VerificationKey(kid, tuple(candidates), dict(public_jwk), keys)


def sign(claims: dict[str, Any], key: SigningKey, token_type: str) -> str:
    """Sign `claims` as a compact JWS with the key's algorithm, `kid` and `typ`."""
    return str(jose_jws.sign(claims, key.private, headers={"kid": key.kid, "typ": token_type}, algorithm=key.algorithm))


def read_header(token: str) -> dict[str, Any]:
    """Decode a token's header without verifying anything; reject key-bearing headers.

    The header is only used to choose among configured keys by `kid`.
    """
    if token.count(".") != 2:
        raise InvalidTokenError("the bearer token is not a compact JWS (three dot-separated parts)")
    try:
        header = jose_jws.get_unverified_header(token)
    except JOSEError as exc:
        raise InvalidTokenError("the bearer token's header is not valid base64url JSON") from exc
    for name in KEY_BEARING_HEADERS:
        if name in header:
            raise InvalidTokenError(
                f"the token header carries '{name}'; keys come only from the gateway's configuration"
            )
    return dict(header)


def read_claims(token: str) -> dict[str, Any]:
    """Decode a token's claims without verifying them; only for routing to a configured issuer."""
    try:
        claims = jose_jwt.get_unverified_claims(token)
    except JOSEError as exc:
        raise InvalidTokenError("the bearer token's payload is not valid base64url JSON") from exc
    return dict(claims)


def verify(
    token: str,
    header: dict[str, Any],
    key: VerificationKey,
    *,
    issuer: str,
    audience: str,
    leeway_s: float,
    unverified_claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Verify the signature with `key` and check exp, nbf, iat, iss and aud; return the claims.

    A token without `exp`, `iss` or `aud` is rejected. `unverified_claims`, when the caller has
    decoded them already, saves decoding them again. Raises InvalidTokenError naming the key id.
    """
    algorithm = header.get("alg")
    # Rejecting before the signature check is safe: a token without these claims is never accepted.
    claims_seen = unverified_claims if unverified_claims is not None else read_claims(token)
    missing = [name for name in ("exp", "iss", "aud") if name not in claims_seen]
    if missing:
        raise InvalidTokenError(f"the token has no {', '.join(missing)} claim", kid=key.kid)
    if algorithm not in key.algorithms:
        raise InvalidTokenError(
            f"the token's algorithm {str(algorithm)[:20]!r} is not allowed for key '{key.kid}'", kid=key.kid
        )
    options = {
        "require_exp": True,
        "require_iss": True,
        "require_aud": True,
        "leeway": int(leeway_s),
        "verify_at_hash": False,
    }
    try:
        claims = jose_jwt.decode(
            token,
            key.keys[key.algorithms.index(algorithm)],
            algorithms=[algorithm],
            options=options,
            audience=audience,
            issuer=issuer,
        )
    except ExpiredSignatureError as exc:
        raise InvalidTokenError("the token has expired", kid=key.kid) from exc
    except JWTClaimsError as exc:
        raise InvalidTokenError(f"the token's claims are invalid: {exc}", kid=key.kid) from exc
    except JOSEError as exc:
        raise InvalidTokenError("the token's signature is invalid", kid=key.kid) from exc
    if not isinstance(claims.get("exp"), int | float):
        raise InvalidTokenError("the token has no numeric exp claim", kid=key.kid)
    return dict(claims)
