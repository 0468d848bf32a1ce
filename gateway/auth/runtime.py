"""Open and close everything the authentication layer needs; the app's lifespan owns it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.auth.clients import ClientStore, FileClientStore, RedisClientStore
from gateway.auth.issuers import IssuerKeys, JWKSOptions
from gateway.auth.keys import load_key_ring
from gateway.auth.oauth import AuthorizationServer
from gateway.auth.persisted import MemoryPersistedQueries, PersistedQueryStore, RedisPersistedQueries
from gateway.auth.policy import anonymous_scopes
from gateway.auth.ratelimit import MemoryCounter, RateLimiter, RedisCounter
from gateway.auth.revocation import MemoryRevocationList, RedisRevocationList, RevocationList
from gateway.auth.token_cache import VerifiedTokenCache
from gateway.auth.tokens import TokenIssuer, TokenVerifier
from gateway.settings import Settings
from resolvers.permissions import ALL_SCOPES, SCOPES

logger = logging.getLogger(__name__)


def issuer_url(settings: Settings) -> str:
    """Return the `iss` of the gateway's own tokens."""
    return settings.oauth_issuer or f"http://{settings.host}:{settings.port}"


def open_redis(url: str) -> Any:
    """Open a Redis client for `url` (redis.asyncio); connections open lazily on first use."""
    import redis.asyncio as redis_asyncio

    return redis_asyncio.from_url(url)


def client_store_for(settings: Settings, redis: Any | None) -> ClientStore:
    """Return the Redis client store when Redis is configured, else the clients file."""
    if redis is not None:
        return RedisClientStore(redis, settings.auth_redis_prefix)
    return FileClientStore(settings.oauth_clients_file)


@dataclass
class AuthServices:
    """The authentication layer of one gateway process."""

    settings: Settings
    verifier: TokenVerifier
    server: AuthorizationServer
    limiter: RateLimiter
    persisted_queries: PersistedQueryStore
    anonymous_scopes: frozenset[str] | None
    issuers: list[IssuerKeys]
    session: aiohttp.ClientSession | None
    redis: Any | None

    @classmethod
    async def open(cls, settings: Settings) -> AuthServices:
        """Open the stores, keys and sessions the settings name; raise AuthConfigError for bad ones."""
        # 1. Everything that can fail on bad settings, before any connection opens.
        anonymous = anonymous_scopes(settings)
        keys = load_key_ring(settings.oauth_signing_key_files)
        issuer = TokenIssuer(issuer_url(settings), settings.oauth_audience, keys, settings.oauth_token_ttl_s)

        # 2. Shared state: Redis when configured, this process's memory otherwise.
        redis_url = settings.auth_redis_url or settings.redis_url
        redis = open_redis(redis_url) if redis_url else None
        revocations: RevocationList
        if redis is not None:
            revocations = RedisRevocationList(redis, settings.auth_redis_prefix)
            limiter = RateLimiter(RedisCounter(redis), settings.rate_limit_window_s, settings.auth_redis_prefix)
            persisted: PersistedQueryStore = RedisPersistedQueries(
                redis, settings.auth_redis_prefix, settings.persisted_queries_ttl_s
            )
        else:
            logger.info(
                "no FISHWATCH_AUTH_REDIS_URL: revocations, rate-limit counters and persisted queries "
                "live in this process; clients in %s",
                settings.oauth_clients_file,
            )
            revocations = MemoryRevocationList(settings.auth_max_revocations_in_memory)
            limiter = RateLimiter(MemoryCounter(), settings.rate_limit_window_s, settings.auth_redis_prefix)
            persisted = MemoryPersistedQueries(settings.persisted_queries_cache_size)

        # 3. External identity providers share one HTTP session for their JWKS.
        session = aiohttp.ClientSession() if settings.auth_issuers else None
        options = JWKSOptions(
            refresh_s=settings.auth_jwks_refresh_s,
            min_refetch_s=settings.auth_jwks_min_refetch_s,
            timeout_s=settings.auth_jwks_timeout_s,
            max_bytes=settings.auth_jwks_max_bytes,
        )
        issuers = [IssuerKeys(config, session, options) for config in settings.auth_issuers] if session else []

        # 4. The verifier and the authorization server over all of it.
        cache = VerifiedTokenCache(settings.auth_token_cache_size, settings.auth_token_cache_ttl_s)
        verifier = TokenVerifier(issuer, revocations, issuers, ALL_SCOPES, settings.auth_leeway_s, cache)
        server = AuthorizationServer(
            client_store_for(settings, redis),
            issuer,
            verifier,
            sorted(SCOPES),
            max_concurrent_secret_checks=settings.oauth_max_concurrent_secret_checks,
        )
        return cls(settings, verifier, server, limiter, persisted, anonymous, issuers, session, redis)

    async def close(self) -> None:
        """Close the JWKS session and the Redis connections; safe to call twice."""
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
