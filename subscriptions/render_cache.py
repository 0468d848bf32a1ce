"""Rendering of a subscription event once per distinct operation, shared by its subscribers.

graphql-core executes a subscription's selection set once per event for every subscriber (the
"ExecuteSubscriptionEvent" step of the GraphQL spec). Subscribers that run the same document,
operation and variables get equal results when the payload depends only on the event and those
arguments. `SharedRenderExecutor` keeps such a result, with its JSON encoding, in a bounded
`RenderCache`, so every further subscriber of that operation reuses it, and the WebSocket
endpoint sends the stored JSON instead of encoding the data again.

Only rendering is shared. Whether a subscriber receives an event at all (filters, tenancy,
scopes) is still decided in its own resolver before the event reaches the executor.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from json.encoder import encode_basestring_ascii
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

logger = logging.getLogger(__name__)

# Key of GatewayContext.extras under which the WebSocket endpoint passes the RenderCache.
RENDER_CACHE_KEY = "subscription_render_cache"

PayloadKey = Callable[[Any], Hashable | None]


class RenderedData(dict[str, Any]):
    """The `data` of a shared result, with its JSON text (compact separators, as Strawberry encodes)."""

    __slots__ = ("json",)

    def __init__(self, data: dict[str, Any], encoded: str) -> None:
        super().__init__(data)
        self.json = encoded


class RenderCache:
    """Recently rendered subscription results, bounded by entry count and encoded size.

    `payload_key` returns a key naming the event behind a payload (for example its type and
    stream position), or None for payloads whose rendering must not be shared. Eviction is least
    recently used. A subscriber that lags behind the others may find its entry evicted and then
    executes the selection set itself, with the same result.
    """

    def __init__(self, payload_key: PayloadKey, *, max_entries: int, max_bytes: int) -> None:
        self.payload_key = payload_key
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, ExecutionResult] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> ExecutionResult | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: Hashable, result: Any) -> Any:
        """Store a result without errors and return the shared copy; return any other result unchanged."""
        if not isinstance(result, ExecutionResult) or result.errors or not isinstance(result.data, dict):
            return result
        try:
            encoded = json.dumps(result.data, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            logger.warning("subscription result not shared: its data is not JSON-encodable: %r", exc)
            return result
        if len(encoded) > self.max_bytes:
            return result
        shared = ExecutionResult(RenderedData(result.data, encoded), None, result.extensions)
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= _size(previous)
        self._entries[key] = shared
        self._bytes += len(encoded)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= _size(evicted)
        return shared


def _size(result: ExecutionResult) -> int:
    data = result.data
    return len(data.json) if isinstance(data, RenderedData) else 0


def _frozen(value: Any) -> Hashable:
    """Return a hashable form of a coerced variable value that keeps its type; raises TypeError if there is none."""
    if isinstance(value, dict):
        return (dict, tuple(sorted((str(key), _frozen(item)) for key, item in value.items())))
    if isinstance(value, list | tuple):
        return (list, tuple(_frozen(item) for item in value))
    hash(value)
    return (type(value), value)


class SharedRenderExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, reusing a per-event subscription result from the context's RenderCache.

    A result is shared only when the payload has a key, the operation has source text, every
    variable value is hashable, and no resolve middleware (which could depend on the caller)
    wraps the resolvers. Queries and mutations run unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per-event executors are shallow copies of this one, so they inherit both attributes.
        self.render_cache: RenderCache | None = None
        self.render_operation_key: Hashable | None = None
        if self.operation.operation is not OperationType.SUBSCRIPTION:
            return
        extras = getattr(self.context_value, "extras", None)
        cache = extras.get(RENDER_CACHE_KEY) if isinstance(extras, dict) else None
        location = self.operation.loc
        if not isinstance(cache, RenderCache) or location is None:
            return
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return
        try:
            variables = _frozen(self.variable_values.coerced)
        except TypeError:
            return
        # The document text and the operation's offset in it name the operation exactly.
        self.render_operation_key = (location.source.body, location.start, variables)
        self.render_cache = cache

    def execute_operation(self, serially: bool | None = None) -> Any:
        cache = self.render_cache
        if cache is None:
            return super().execute_operation(serially)
        payload_key = cache.payload_key(self.root_value)
        if payload_key is None:
            return super().execute_operation(serially)
        key = (payload_key, self.render_operation_key)
        cached = cache.get(key)
        if cached is not None:
            return cached
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            return cache.put(key, result)

        async def store() -> Any:
            return cache.put(key, await result)

        return store()


def encode_shared_message(message: object) -> str | None:
    """Encode a WebSocket message whose payload `data` is RenderedData, reusing its JSON; else None.

    Both protocols wrap a result the same way: graphql-transport-ws as
    {"id", "type": "next", "payload": {"data", ...}} and graphql-ws with "type": "data".
    """
    if not isinstance(message, dict):
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if not isinstance(data, RenderedData):
        return None
    payload_members = [
        '"data":' + data.json if key == "data" else _encode(key) + ":" + _encode(value)
        for key, value in payload.items()
    ]
    members = [
        '"payload":{' + ",".join(payload_members) + "}" if key == "payload" else _encode(key) + ":" + _encode(value)
        for key, value in message.items()
    ]
    return "{" + ",".join(members) + "}"


def _encode(value: Any) -> str:
    # The operation id and the message type are strings. Quoting them directly skips json.dumps's
    # setup and gives the same text as json.dumps with its default ensure_ascii.
    if type(value) is str:
        return encode_basestring_ascii(value)
    return json.dumps(value, separators=(",", ":"))
