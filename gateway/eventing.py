"""Wiring of the event bus into the gateway: open and close it, the MQTT bridge, the WebSocket
endpoint for GraphQL subscriptions, and `POST /events`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import strawberry
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from common.errors import ConfigError, FishWatchError
from gateway.settings import Settings
from gateway.subscription_stream import RENDER_CACHE_KEY, SubscriptionStream
from resolvers.subscription import CLOSE_CONNECTION_KEY, MAX_FILTER_VALUES_KEY
from resolvers.types.events import render_key
from subscriptions.bus import BusOptions, EventBus, open_event_bus
from subscriptions.catalog import check_data
from subscriptions.errors import EventBusUnavailableError
from subscriptions.http_binding import event_from_http
from subscriptions.mqtt_bridge import MqttBridge, MqttOptions
from subscriptions.render_cache import RenderCache, encode_shared_message

logger = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis", "rediss", "unix")


def bus_options(settings: Settings) -> BusOptions:
    return BusOptions(
        stream_max_events=settings.event_stream_max_events,
        stream_retention_ms=settings.event_stream_retention_ms,
        subscriber_max_queued_events=settings.subscriber_max_queued_events,
        replay_batch_events=settings.event_replay_batch_events,
        key_prefix=settings.redis_key_prefix,
        reconnect_backoff_base_s=settings.redis_reconnect_backoff_base_s,
        reconnect_backoff_max_s=settings.redis_reconnect_backoff_max_s,
        health_check_interval_s=settings.redis_health_check_interval_s,
        redis_socket_timeout_s=settings.redis_socket_timeout_s,
        dead_letter_max_entries=settings.event_dead_letter_max_entries,
        redis_max_connections=settings.redis_max_connections,
    )


def _check_redis_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES or (parts.scheme != "unix" and not parts.hostname):
        raise ConfigError(
            f"FISHWATCH_REDIS_URL with scheme '{parts.scheme}' is not a Redis URL; "
            "expected redis://host:port/db, rediss://host:port/db or unix:///path/to/socket"
        )


class Eventing:
    """The bus, the MQTT bridge, the subscription render cache and the tasks that close slow WebSocket clients."""

    def __init__(self, settings: Settings, bus: EventBus, bridge: MqttBridge | None) -> None:
        self.settings = settings
        self.bus = bus
        self.bridge = bridge
        self.draining = False
        # An entry is needed only while one event fans out to the subscribers of one operation; a
        # subscriber that finds its entry evicted (it lags, or many operations are active) renders
        # the event again itself.
        self.render_cache = RenderCache(
            render_key,
            max_entries=settings.subscription_render_cache_max_entries,
            max_bytes=settings.subscription_render_cache_max_bytes,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s failed: %r", task.get_name(), task.exception())

    async def close(self) -> None:
        """Stop intake (new subscriptions, MQTT), end open subscriptions, then release Redis; safe twice."""
        self.draining = True
        if self.bridge is not None:
            await self.bridge.close()
        await self.bus.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        logger.info("event bus closed (%s)", self.bus.kind)


async def open_eventing(settings: Settings) -> Eventing:
    """Open the bus (Redis when redis_url is set, in-memory otherwise) and start the MQTT bridge."""
    if settings.redis_url:
        _check_redis_url(settings.redis_url)
    else:
        logger.info("event bus: no FISHWATCH_REDIS_URL set; using the in-memory bus (single process only)")
    bus = await open_event_bus(settings.redis_url, bus_options(settings))
    bridge = None
    if settings.mqtt_url:
        bridge = MqttBridge(
            MqttOptions(
                url=settings.mqtt_url,
                topic_filter=settings.mqtt_topic_filter,
                shared_group=settings.mqtt_shared_group,
                client_id=settings.mqtt_client_id,
                keepalive_s=settings.mqtt_keepalive_s,
                max_payload_bytes=settings.mqtt_max_payload_bytes,
                max_queued_messages=settings.mqtt_max_queued_messages,
                backoff_base_s=settings.mqtt_reconnect_backoff_base_s,
                backoff_max_s=settings.mqtt_reconnect_backoff_max_s,
            ),
            bus,
        )
        bridge.start()
    else:
        logger.info("mqtt bridge: off (no FISHWATCH_MQTT_URL set)")
    return Eventing(settings, bus, bridge)


def _eventing(app: Any) -> Eventing:
    eventing: Eventing | None = app.state.services.extras.get("eventing")
    if eventing is None or eventing.draining:
        raise EventBusUnavailableError("the gateway is shutting down and takes no new subscriptions or events")
    return eventing


def _error_response(error: FishWatchError) -> JSONResponse:
    return JSONResponse({"error": {"message": error.message, **error.extensions}}, status_code=error.http_status)


async def post_event(request: Request) -> JSONResponse:
    """Accept one CloudEvent in structured or binary HTTP mode; 202 with its id and stream position."""
    started = time.perf_counter()
    outcome = "error"
    event_type = "-"
    try:
        eventing = _eventing(request.app)
        limit = eventing.settings.event_max_bytes
        body = await request.body()
        if len(body) > limit:
            outcome = "too_large"
            return JSONResponse(
                {
                    "error": {
                        "code": "EVENT_TOO_LARGE",
                        "message": f"the event has {len(body)} bytes; at most event_max_bytes ({limit}) are accepted",
                    }
                },
                status_code=413,
            )
        event = event_from_http(request.headers, body)
        event_type = event.type
        check_data(event)
        position = await eventing.bus.publish(event)
        outcome = "accepted"
        return JSONResponse({"id": event.id, "position": position}, status_code=202)
    except FishWatchError as exc:
        outcome = exc.code
        return _error_response(exc)
    finally:
        logger.info(
            "POST /events type=%s outcome=%s duration_ms=%.1f",
            event_type,
            outcome,
            (time.perf_counter() - started) * 1000,
        )


ContextFactory = Callable[[Any], Awaitable[Any]]


def _subscription_schema(schema: strawberry.Schema, parsed_documents_max: int) -> strawberry.Schema:
    """Return a shallow copy of the schema that runs subscriptions through SubscriptionStream.

    The copy shares types, extensions and the graphql-core schema with the original; only its
    `stream` differs, so the HTTP path keeps the original unchanged. Strawberry's protocol
    handlers call `stream` (graphql-transport-ws) or `subscribe` (graphql-ws, which calls
    `stream` in turn).
    """
    if schema.execution_context_class is not StrawberryGraphQLCoreExecutionContext:
        raise ConfigError(
            f"the schema uses the executor {schema.execution_context_class.__name__}; the WebSocket endpoint "
            "runs subscriptions on Strawberry's default one, so build the schema without execution_context_class"
        )
    shared = copy.copy(schema)
    subscriptions = SubscriptionStream(schema, shared.stream, parsed_documents_max=parsed_documents_max)
    shared.stream = subscriptions.stream  # type: ignore[method-assign,assignment]
    return shared


class SubscriptionEndpoint(GraphQL):
    """Strawberry's ASGI app for GraphQL over WebSocket, with the gateway's context.

    Subscribers of the same document, operation and variables share one rendering of each event
    and its JSON (see subscriptions/render_cache.py).
    """

    def __init__(self, schema: strawberry.Schema, settings: Settings, context_factory: ContextFactory) -> None:
        super().__init__(
            _subscription_schema(schema, settings.subscription_parsed_documents_max),
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=settings.ws_keepalive_interval_s,
            connection_init_wait_timeout=dt.timedelta(seconds=settings.ws_connection_init_timeout_s),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
        )
        self._context_factory = context_factory
        self._close_timeout_s = settings.subscriber_close_timeout_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            try:
                _eventing(scope["app"])
            except EventBusUnavailableError:
                # Draining: refuse the handshake (HTTP 403) rather than accept a doomed connection.
                await send({"type": "websocket.close", "code": 1012, "reason": "gateway shutting down"})
                return
        await super().__call__(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> Any:
        context = await self._context_factory(request)
        eventing = _eventing(request.app)
        context.extras[MAX_FILTER_VALUES_KEY] = eventing.settings.subscription_max_filter_values
        context.extras[CLOSE_CONNECTION_KEY] = self._closer(eventing, request)
        context.extras[RENDER_CACHE_KEY] = eventing.render_cache
        return context

    def encode_json(self, data: object) -> str | bytes:
        shared = encode_shared_message(data)
        return shared if shared is not None else super().encode_json(data)

    def _closer(self, eventing: Eventing, websocket: WebSocket) -> Callable[[int, str], None]:
        closed = False

        def close(code: int, reason: str) -> None:
            nonlocal closed
            if closed:
                return
            closed = True

            async def send_close() -> None:
                # The close frame goes out only once the client reads again, because uvicorn waits
                # until the server's write buffer drains before each send. A client that never reads
                # again is dropped by uvicorn's ping timeout instead, without a close frame.
                try:
                    await asyncio.wait_for(websocket.close(code=code, reason=reason), self._close_timeout_s)
                except TimeoutError:
                    logger.warning(
                        "slow subscriber did not read its close frame within subscriber_close_timeout_s (%.1f s)",
                        self._close_timeout_s,
                    )
                except RuntimeError:
                    pass  # Already closed by the client or the server.

            eventing.spawn(send_close(), name="close slow subscriber")

        return close


def event_routes(schema: strawberry.Schema, settings: Settings, context_factory: ContextFactory) -> list[Any]:
    """Routes this module serves: GraphQL over WebSocket at /graphql and POST /events."""
    return [
        WebSocketRoute("/graphql", SubscriptionEndpoint(schema, settings, context_factory)),
        Route("/events", post_event, methods=["POST"]),
    ]
