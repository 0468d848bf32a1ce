"""Revoked access tokens by `jti`, kept until the token would have expired anyway (RFC 7009)."""

from __future__ import annotations

import time
from typing import Any, Protocol


class RevocationList(Protocol):
    """Storage of revoked token ids; `revoke` keeps each entry until `expires_at` (Unix seconds)."""

    async def revoke(self, token_id: str, expires_at: float) -> None: ...
    async def is_revoked(self, token_id: str) -> bool: ...


class MemoryRevocationList:
    """Revocations of one process; entries are dropped once past their expiry."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: dict[str, float] = {}

    async def revoke(self, token_id: str, expires_at: float) -> None:
        now = time.time()
        if len(self.entries) >= self.max_entries:
            self.entries = {jti: until for jti, until in self.entries.items() if until > now}
        # NOTE: a full list that holds only live entries still takes this one. The bound only
        # drops expired entries, because revocations are rare admin actions.
        self.entries[token_id] = expires_at

    async def is_revoked(self, token_id: str) -> bool:
        until = self.entries.get(token_id)
        if until is None:
            return False
        if until <= time.time():
            del self.entries[token_id]
            return False
        return True


class RedisRevocationList:
    """Revocations shared by every replica: one key per token id that expires with the token."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def revoke(self, token_id: str, expires_at: float) -> None:
        ttl_ms = int((expires_at - time.time()) * 1000)
        if ttl_ms > 0:
            await self.redis.set(f"{self.prefix}oauth:revoked:{token_id}", b"1", px=ttl_ms)

    async def is_revoked(self, token_id: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}oauth:revoked:{token_id}"))
