"""Idempotency-Key handling for POST endpoints.

The first request with a key runs and its response is stored; a retry with the same key and the
same request gets the stored body back with status 200 (a create answered 201 the first time) and
changes nothing. Reusing a key for a different request, or while the first is still running, is a
409 CONFLICT, because answering either with the stored result would hide a client bug.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from sandbox.http import ApiError, Handler

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Oldest keys are forgotten past this count, which bounds memory in a long-running demo.
MAX_KEYS = 10_000
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_digest: str
    status: int
    body: bytes


class IdempotencyStore:
    """Responses by Idempotency-Key, with a marker for keys whose first request is in flight."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._responses: OrderedDict[str, StoredResponse | None] = OrderedDict()

    def begin(self, key: str, digest: str) -> StoredResponse | None:
        """Return the stored response for a replay, or None after reserving the key for a first run."""
        if key in self._responses:
            stored = self._responses[key]
            if stored is None:
                raise ApiError.conflict(f"a request with Idempotency-Key '{key}' is still in progress; retry later")
            if stored.request_digest != digest:
                raise ApiError.conflict(
                    f"Idempotency-Key '{key}' was already used for a different request; use a new key"
                )
            return stored
        self._responses[key] = None
        while len(self._responses) > self.max_keys:
            self._responses.popitem(last=False)
        return None

    def finish(self, key: str, stored: StoredResponse | None) -> None:
        """Store the response of a first run, or release the key when the run failed."""
        if stored is None:
            self._responses.pop(key, None)
        else:
            self._responses[key] = stored


STORE_KEY = web.AppKey("idempotency_store", IdempotencyStore)


def install(app: web.Application) -> None:
    app[STORE_KEY] = IdempotencyStore()


def idempotent(handler: Handler) -> Handler:
    """Wrap a POST handler so an Idempotency-Key header makes retries safe."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return await handler(request)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApiError.invalid(f"header {IDEMPOTENCY_HEADER} must be 1 to {MAX_KEY_LENGTH} characters")

        store = request.app[STORE_KEY]
        body = await request.read()
        digest = hashlib.sha256(f"{request.method} {request.path_qs}\n".encode() + body).hexdigest()
        stored = store.begin(key, digest)
        if stored is not None:
            return web.Response(status=200, body=stored.body, content_type="application/json")

        stored = None
        try:
            response = await handler(request)
            if isinstance(response, web.Response) and 200 <= response.status < 300 and response.body is not None:
                assert isinstance(response.body, bytes)
                stored = StoredResponse(digest, response.status, response.body)
            return response
        finally:
            store.finish(key, stored)

    return wrapper
