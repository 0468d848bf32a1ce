"""Signing keys of external identity providers, fetched from their JWKS URLs and cached.

Keys are fetched on first use and again after `refresh_s`. A token whose `kid` is not cached
triggers a refetch, but at most one per `min_refetch_s` per issuer, however many requests carry
unknown key ids. Concurrent requests wait for the one fetch in flight, and later ones within the
interval are rejected from the cache. A failed fetch keeps the keys fetched before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import aiohttp

from common.errors import InvalidTokenError
from gateway.auth.config import IssuerSettings
from gateway.auth.jwt import VerificationKey, verification_key_from_jwk

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JWKSOptions:
    """Bounds of JWKS fetching; times in seconds, sizes in bytes."""

    refresh_s: float = 3600.0
    min_refetch_s: float = 60.0
    timeout_s: float = 5.0
    max_bytes: int = 262_144


class JWKSFetchError(Exception):
    """A JWKS could not be fetched or parsed; the message names the URL and the cause."""


class IssuerKeys:
    """The cached verification keys of one external issuer."""

    def __init__(self, config: IssuerSettings, session: aiohttp.ClientSession, options: JWKSOptions) -> None:
        self.config = config
        self.session = session
        self.options = options
        self.algorithms = tuple(config.algorithms)
        self.keys: dict[str, VerificationKey] = {}
        self.fetched_at: float | None = None
        self.last_attempt: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> VerificationKey:
        """Return the key with id `kid`, refetching the JWKS when allowed; raise InvalidTokenError."""
        now = time.monotonic()
        if self.fetched_at is None or now - self.fetched_at >= self.options.refresh_s:
            await self._refresh("the cached keys are older than the refresh interval")
        key = self.keys.get(kid)
        if key is None:
            await self._refresh(f"unknown key id '{kid[:64]}'")
            key = self.keys.get(kid)
        if key is None:
            raise InvalidTokenError(
                f"the token's key id is not among the keys of issuer '{self.config.issuer}'", kid=kid[:64]
            )
        return key

    async def _refresh(self, reason: str) -> None:
        async with self._lock:
            # Another request may have fetched while this one waited for the lock.
            now = time.monotonic()
            if self.last_attempt is not None and now - self.last_attempt < self.options.min_refetch_s:
                return
            self.last_attempt = now
            url = str(self.config.jwks_url)
            started = time.perf_counter()
            try:
                keys = await self._fetch(url)
            except JWKSFetchError as exc:
                logger.warning(
                    "JWKS fetch for issuer %s failed (%s); keeping %d cached key(s): %s",
                    self.config.issuer,
                    reason,
                    len(self.keys),
                    exc,
                )
                return
            self.keys = keys
            self.fetched_at = time.monotonic()
            logger.info(
                "JWKS fetched for issuer %s from %s: %d usable key(s) in %.1f ms (%s)",
                self.config.issuer,
                url,
                len(keys),
                (time.perf_counter() - started) * 1000,
                reason,
            )

    async def _fetch(self, url: str) -> dict[str, VerificationKey]:
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_s)
        try:
            async with self.session.get(url, timeout=timeout, allow_redirects=False) as response:
                if response.status != 200:
                    raise JWKSFetchError(f"{url} returned HTTP {response.status}")
                body = await response.content.read(self.options.max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise JWKSFetchError(f"GET {url} failed: {exc!r}") from exc
        if len(body) > self.options.max_bytes:
            raise JWKSFetchError(f"{url} sent more than {self.options.max_bytes} bytes")
        try:
            document = json.loads(body)
            entries = document["keys"]
            if not isinstance(entries, list):
                raise TypeError("keys is not an array")
        except (ValueError, KeyError, TypeError) as exc:
            raise JWKSFetchError(f"{url} did not return a JWK Set: {exc}") from exc
        keys: dict[str, VerificationKey] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            key = verification_key_from_jwk(entry, self.algorithms)
            if key is not None:
                keys[key.kid] = key
        return keys
