"""What every resolver receives in `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info

from connectors.registry import Connectors
from resolvers.loaders import Loaders


@dataclass(frozen=True)
class ResolverLimits:
    """Bounds the resolvers enforce on arguments; counts are items, spans are as named."""

    max_page_size: int = 200
    max_reading_buckets: int = 5000
    forecast_model_name: str = "harvest-forecast"
    forecast_model_alias: str = "champion"
    forecast_max_horizon_days: int = 365


@dataclass
class GatewayContext:
    """Per-request state: connectors shared by the process, DataLoaders owned by this request."""

    connectors: Connectors
    loaders: Loaders
    limits: ResolverLimits
    request: Any = None
    response: Any = None
    # The event bus (subscriptions.bus.EventBus) and the workflow engine, when the process runs them.
    bus: Any = None
    workflows: Any = None
    # The caller (gateway.auth.principal.Principal); resolvers check scopes and tenancy against it.
    principal: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


GatewayInfo = Info[GatewayContext, None]
