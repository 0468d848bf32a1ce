"""The Starlette application: middleware, routes and the lifespan that owns every resource."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.routing import Route

from common.context import install_request_id_factory
from connectors.registry import Connectors
from gateway.auth.guard import OperationGuard
from gateway.auth.middleware import AuthenticationMiddleware
from gateway.auth.operation_policy import operation_policy_extension
from gateway.auth.redaction import install_log_redaction
from gateway.auth.routes import oauth_routes
from gateway.auth.runtime import AuthServices
from gateway.auth.websocket import WebSocketAuthMiddleware
from gateway.eventing import event_routes, open_eventing
from gateway.gc_policy import FullCollectionPolicy
from gateway.graphql_http import GraphQLHTTPHandler, HTTPLimits
from gateway.health import healthz, readyz
from gateway.middleware import BodyLimitMiddleware, RequestIdMiddleware
from gateway.settings import Settings
from gateway.subsystems import build_connectors, start_sandbox_if_needed
from gateway.workflow_runtime import start_workflows
from resolvers.context import GatewayContext, ResolverLimits
from resolvers.limits import depth_and_alias_rule
from resolvers.loaders import Loaders
from resolvers.schema import build_schema

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the lifespan opens, in the order it opens them; closed in reverse."""

    settings: Settings
    connectors: Connectors
    sandbox: Any = None
    bus: Any = None
    workflows: Any = None
    auth: AuthServices | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        gc_policy = self.extras.pop("gc_policy", None)
        if gc_policy is not None:
            await gc_policy.close()
        if self.workflows is not None:
            # First, while connectors and the bus are open, so in-flight steps can drain.
            await self.workflows.close()
        eventing = self.extras.pop("eventing", None)
        if eventing is not None:
            await eventing.close()
        await self.connectors.close()
        if self.sandbox is not None:
            await self.sandbox.close()
            self.sandbox = None
        if self.auth is not None:
            await self.auth.close()
            self.auth = None


def create_schema(settings: Settings) -> strawberry.Schema:
    return build_schema(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_query_aliases,
        max_tokens=settings.max_query_tokens,
        # Introspection policy and cost limit for WebSocket operations; HTTP applies them in OperationGuard.
        extra_extensions=[
            operation_policy_extension(
                settings.introspection_callers,
                settings.max_query_cost,
                settings.max_query_list_size,
                persisted_only_callers=settings.persisted_queries_only_callers,
            )
        ],
    )


def create_app(settings: Settings) -> Starlette:
    """Build the gateway's ASGI app; resources open in its lifespan."""
    install_request_id_factory()
    install_log_redaction()
    schema = create_schema(settings)
    limits = ResolverLimits(
        max_page_size=settings.max_page_size,
        max_reading_buckets=settings.max_reading_buckets,
        forecast_model_name=settings.forecast_model_name,
        forecast_model_alias=settings.forecast_model_alias,
        forecast_max_horizon_days=settings.forecast_max_horizon_days,
    )

    async def context_for(request: Request) -> GatewayContext:
        services: Services = request.app.state.services
        return GatewayContext(
            connectors=services.connectors,
            loaders=Loaders(services.connectors),
            limits=limits,
            request=request,
            bus=services.bus,
            workflows=services.workflows,
            # Set by AuthenticationMiddleware (HTTP) or WebSocketAuthMiddleware (connection_init).
            principal=request.scope.get("state", {}).get("principal"),
        )

    # NOTE: `_schema` is Strawberry's graphql-core schema; executing on it directly skips
    # Strawberry's per-request pipeline, which the HTTP path replaces with its own caches.
    graphql = GraphQLHTTPHandler(
        schema._schema,
        HTTPLimits(
            max_body_bytes=settings.max_body_bytes,
            max_tokens=settings.max_query_tokens,
            request_timeout_s=settings.request_timeout_s,
            document_cache_size=settings.document_cache_size,
            graphiql_enabled=settings.graphiql_enabled,
        ),
        context_for,
        [depth_and_alias_rule(settings.max_query_depth, settings.max_query_aliases)],
        OperationGuard(schema._schema, settings.max_query_cost, settings.max_query_list_size),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sandbox, urls = await start_sandbox_if_needed(settings)
        connectors = build_connectors(settings, urls)
        services = Services(settings=settings, connectors=connectors, sandbox=sandbox)
        try:
            await connectors.start()
            services.auth = await AuthServices.open(settings)
            eventing = await open_eventing(settings)
            services.extras["eventing"] = eventing
            services.bus = eventing.bus
            # After the bus opens: the engine publishes transitions on it and triggers listen to it.
            services.workflows = await start_workflows(settings, connectors, services.bus)
            app.state.services = services
            # Objects made at start-up live as long as the process. Freezing them keeps full garbage
            # collections from walking them again: on the query-path benchmark the median pause fell
            # from 38 ms to 4 ms (2 cores, benchmarks/bench_query_path.py).
            gc.collect()
            gc.freeze()
            if settings.gc_full_collection_interval_s > 0:
                gc_policy = FullCollectionPolicy(
                    settings.gc_full_collection_interval_s, settings.gc_full_collection_growth_percent
                )
                gc_policy.start()
                services.extras["gc_policy"] = gc_policy
            else:
                logger.info(
                    "full garbage collections: CPython's own policy (FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S=0)"
                )
                if "gc_full_collection_growth_percent" in settings.model_fields_set:
                    logger.warning(
                        "FISHWATCH_GC_FULL_COLLECTION_GROWTH_PERCENT is set but has no effect while "
                        "FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S is 0; set the interval to use it"
                    )
            logger.info("gateway ready: subsystems %s", ", ".join(f"{name}={url}" for name, url in urls.items()))
            yield
        finally:
            logger.info("gateway shutting down: closing upstream sessions")
            await services.close()

    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
    ]
    if settings.cors_allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_allowed_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id"],
            )
        )
    # Innermost, so CORS preflights are answered without a token.
    middleware.append(Middleware(AuthenticationMiddleware))
    middleware.append(Middleware(WebSocketAuthMiddleware))
    routes = [
        *oauth_routes(),
        # PUT, PATCH and DELETE reach the handler too, so they get a JSON 405 like every other error.
        Route("/graphql", graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *event_routes(schema, settings, context_for),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.schema = schema
    return app
