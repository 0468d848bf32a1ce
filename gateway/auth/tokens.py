"""Issue access tokens (RFC 9068 JWT profile) and turn any accepted bearer token into a Principal."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidTokenError
from gateway.auth import jwt
from gateway.auth.clients import ClientRecord
from gateway.auth.config import CallerKind
from gateway.auth.issuers import IssuerKeys
from gateway.auth.keys import KeyRing
from gateway.auth.principal import Principal
from gateway.auth.revocation import RevocationList
from gateway.auth.token_cache import VerifiedTokenCache

# RFC 9068 §2.1: access tokens carry this media type in `typ`.
ACCESS_TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = ("at+jwt", "application/at+jwt")
# Private claims with the client's tenancy and kind; RFC 9068 §2.2 allows additional claims.
FARMS_CLAIM = "fw_farms"
ORGANIZATIONS_CLAIM = "fw_orgs"
KIND_CLAIM = "fw_kind"


@dataclass(frozen=True)
class IssuedToken:
    """A signed access token and what the token response reports about it."""

    value: str
    expires_in_s: int
    scopes: list[str]
    token_id: str


class TokenIssuer:
    """Signs access tokens for registered clients with the key ring's current key."""

    def __init__(self, issuer: str, audience: str, keys: KeyRing, ttl_s: int) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.ttl_s = ttl_s

    def issue(self, client: ClientRecord, scopes: list[str]) -> IssuedToken:
        now = int(time.time())
        token_id = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": client.client_id,
            "aud": self.audience,
            "exp": now + self.ttl_s,
            "iat": now,
            "nbf": now,
            "jti": token_id,
            "client_id": client.client_id,
            "scope": " ".join(scopes),
            KIND_CLAIM: client.kind,
            FARMS_CLAIM: sorted(client.farms),
            ORGANIZATIONS_CLAIM: sorted(client.organizations),
        }
        value = jwt.sign(claims, self.keys.signing, ACCESS_TOKEN_TYPE)
        return IssuedToken(value, self.ttl_s, scopes, token_id)


def _string_set(value: Any) -> frozenset[str]:
    """Read a claim that is a space-separated string or a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


class TokenVerifier:
    """Verifies the gateway's own tokens and those of configured identity providers."""

    def __init__(
        self,
        issuer: TokenIssuer,
        revocations: RevocationList,
        external: Iterable[IssuerKeys],
        known_scopes: frozenset[str],
        leeway_s: float,
        cache: VerifiedTokenCache | None = None,
    ) -> None:
        self.own = issuer
        self.revocations = revocations
        self.external = {keys.config.issuer: keys for keys in external}
        self.known_scopes = known_scopes
        self.leeway_s = leeway_s
        self.cache = cache if cache is not None else VerifiedTokenCache(0, 0.0)

    async def own_claims(self, token: str) -> dict[str, Any]:
        """Verify a token this gateway issued, revocation included; return its claims."""
        header = jwt.read_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("the token header has no kid; the gateway selects keys by kid")
        return await self._own(token, header, kid, jwt.read_claims(token))

    async def _own(self, token: str, header: dict[str, Any], kid: str, unverified: dict[str, Any]) -> dict[str, Any]:
        key = self.own.keys.verifying.get(kid)
        if key is None:
            raise InvalidTokenError("the token's key id is not one of the gateway's keys", kid=kid[:64])
        if str(header.get("typ", "")).lower() not in _ACCEPTED_TYPES:
            raise InvalidTokenError("the token is not an access token: its typ header must be at+jwt", kid=kid)
        claims = jwt.verify(
            token,
            header,
            key,
            issuer=self.own.issuer,
            audience=self.own.audience,
            leeway_s=self.leeway_s,
            unverified_claims=unverified,
        )
        token_id = claims.get("jti")
        if not isinstance(token_id, str):
            raise InvalidTokenError("the token has no jti claim", kid=kid)
        if await self.revocations.is_revoked(token_id):
            raise InvalidTokenError("the token has been revoked", kid=kid)
        return claims

    async def verify(self, token: str) -> Principal:
        """Verify a bearer token and build its principal; raise InvalidTokenError.

        A token verified before comes from the cache while it is valid; revocation of the
        gateway's own tokens is still checked on every call.
        """
        cached = self.cache.get(token)
        if cached is not None:
            if cached.issuer == self.own.issuer and await self.revocations.is_revoked(str(cached.token_id)):
                raise InvalidTokenError("the token has been revoked")
            return cached
        principal = await self._verify_signed(token)
        if principal.expires_at is not None:
            self.cache.put(token, principal, principal.expires_at + self.leeway_s)
        return principal

    async def _verify_signed(self, token: str) -> Principal:
        # 1. Route by the unverified header and issuer, only to choose among configured keys.
        header = jwt.read_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("the token header has no kid; the gateway selects keys by kid")
        unverified = jwt.read_claims(token)
        issuer = unverified.get("iss")
        if issuer == self.own.issuer:
            return self._client_principal(await self._own(token, header, kid, unverified))

        # 2. An external identity provider's token: verify with its cached key.
        external = self.external.get(issuer) if isinstance(issuer, str) else None
        if external is None:
            raise InvalidTokenError("the token's issuer is not one this gateway trusts")
        key = await external.key_for(kid)
        config = external.config
        claims = jwt.verify(
            token,
            header,
            key,
            issuer=config.issuer,
            audience=config.audience,
            leeway_s=self.leeway_s,
            unverified_claims=unverified,
        )

        # 3. Map the configured claims to scopes and tenancy; unknown scopes are dropped.
        scopes = (_string_set(claims.get(config.scopes_claim)) | frozenset(config.default_scopes)) & self.known_scopes
        farms = _string_set(claims.get(config.farms_claim)) if config.farms_claim else frozenset()
        organizations = (
            _string_set(claims.get(config.organizations_claim)) if config.organizations_claim else frozenset()
        )
        return Principal(
            kind="user",
            subject=str(claims.get("sub", "")),
            scopes=scopes,
            farm_ids=farms,
            organization_ids=organizations,
            token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
            issuer=config.issuer,
            expires_at=float(claims["exp"]),
        )

    def _client_principal(self, claims: dict[str, Any]) -> Principal:
        farms = _string_set(claims.get(FARMS_CLAIM))
        all_farms = "*" in farms
        kind: CallerKind = "subsystem" if claims.get(KIND_CLAIM) == "subsystem" else "client"
        return Principal(
            kind=kind,
            subject=str(claims["sub"]),
            scopes=_string_set(claims.get("scope")) & self.known_scopes,
            farm_ids=None if all_farms else farms,
            organization_ids=None if all_farms else _string_set(claims.get(ORGANIZATIONS_CLAIM)),
            client_id=str(claims.get("client_id", claims["sub"])),
            token_id=str(claims["jti"]),
            issuer=self.own.issuer,
            expires_at=float(claims["exp"]),
        )
