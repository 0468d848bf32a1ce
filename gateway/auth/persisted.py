"""Persisted query documents by SHA-256 hash (Apollo's automatic persisted queries protocol).

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": ...}` without the query;
an unknown hash gets the error `PersistedQueryNotFound`, and the client retries with the query
and the hash, which registers it. Callers restricted to persisted queries can run only hashes
already registered by other callers or loaded from a file by operators.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Protocol


def query_hash(query: str) -> str:
    """Return the lowercase hex SHA-256 of a query text, as APQ clients compute it."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class PersistedQueryStore(Protocol):
    """Storage of registered query documents, keyed by their hash."""

    async def get(self, sha256: str) -> str | None: ...
    async def put(self, sha256: str, query: str) -> None: ...


class MemoryPersistedQueries:
    """Registered queries of one process, least recently used dropped beyond `max_entries`."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        query = self.entries.get(sha256)
        if query is not None:
            self.entries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        if self.max_entries <= 0:
            return
        self.entries[sha256] = query
        self.entries.move_to_end(sha256)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class RedisPersistedQueries:
    """Registered queries shared by every replica, each kept for `ttl_s` after its last registration."""

    def __init__(self, redis: Any, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s

    async def get(self, sha256: str) -> str | None:
        raw = await self.redis.get(f"{self.prefix}apq:{sha256}")
        return raw.decode("utf-8") if isinstance(raw, bytes) else raw

    async def put(self, sha256: str, query: str) -> None:
        await self.redis.set(f"{self.prefix}apq:{sha256}", query.encode("utf-8"), ex=self.ttl_s)
