"""Rendering of a subscription event once per distinct operation, shared by its subscribers.

graphql-core executes a subscription's selection set once per event for every subscriber (the
"ExecuteSubscriptionEvent" step of the GraphQL spec). Subscribers that run the same document,
operation and variables get equal results when the payload depends only on the event and those
arguments. The WebSocket endpoint's subscription stream (gateway/subscription_stream.py) keeps such a result,
with its JSON encoding, in a bounded `RenderCache` under the event's key and
`operation_render_key`, so every further subscriber of that operation reuses it, and the endpoint
sends the stored JSON instead of encoding the data again.

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

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import Executor
from strawberry.types.execution import ExecutionResult

logger = logging.getLogger(__name__)

PayloadKey = Callable[[Any], Hashable | None]


class RenderedData(dict[str, Any]):
    """The `data` of a shared result, with its JSON text (compact separators, as Strawberry encodes)."""

    __slots__ = ("json", "messages")

    # Distinct whole messages kept per result. Subscribers that share an operation often share its
    # id too (gql numbers operations from 1), and then one text serves all of them.
    MAX_MESSAGES = 8

    def __init__(self, data: dict[str, Any], encoded: str) -> None:
        super().__init__(data)
        self.json = encoded
        # Encoded messages that wrap this data alone, by their other members in order.
        self.messages: dict[tuple[tuple[str, Any], ...], str] = {}


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
        """Store a result without errors and return the shared copy; return any other result unchanged.

        `result` is graphql-core's or Strawberry's ExecutionResult; the shared copy is Strawberry's,
        which the WebSocket protocol handlers send.
        """
        if (
            not isinstance(result, GraphQLExecutionResult | ExecutionResult)
            or result.errors
            or not isinstance(result.data, dict)
        ):
            return result
        try:
            encoded = json.dumps(result.data, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            logger.warning("subscription result not shared: its data is not JSON-encodable: %r", exc)
            return result
        if len(encoded) > self.max_bytes:
            return result
        shared = ExecutionResult(data=RenderedData(result.data, encoded), errors=None, extensions=result.extensions)
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


def freeze(value: Any) -> Hashable:
    """Return a hashable form of a variable value that keeps its type; raises TypeError if there is none."""
    if isinstance(value, dict):
        return (dict, tuple(sorted((str(key), freeze(item)) for key, item in value.items())))
    if isinstance(value, list | tuple):
        return (list, tuple(freeze(item) for item in value))
    hash(value)
    return (type(value), value)


def operation_render_key(executor: Executor) -> Hashable | None:
    """Return the key naming a subscription's operation and variables, or None when its results must not be shared.

    Results are shared only when the operation has source text, every variable value is hashable,
    and no resolve middleware (which could depend on the caller) wraps the resolvers.
    """
    location = executor.operation.loc
    if location is None:
        return None
    if executor.middleware_manager is not None and executor.middleware_manager.middlewares:
        return None
    try:
        variables = freeze(executor.variable_values.coerced)
    except TypeError:
        return None
    # The document text and the operation's offset in it name the operation exactly.
    return (location.source.body, location.start, variables)


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
    if len(payload) == 1:
        wrapper = tuple((key, value) for key, value in message.items() if key != "payload")
        # Only string members are memoized: equal numbers such as 1 and 1.0 encode differently.
        if all(type(key) is str and type(value) is str for key, value in wrapper):
            known = data.messages.get(wrapper)
            if known is not None:
                return known
            text = _encode_message(message, payload, data)
            if len(data.messages) < RenderedData.MAX_MESSAGES:
                data.messages[wrapper] = text
            return text
    return _encode_message(message, payload, data)


def _encode_message(message: dict[Any, Any], payload: dict[Any, Any], data: RenderedData) -> str:
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
