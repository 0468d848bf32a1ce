"""Scopes on fields and tenancy filters.

A field declares the scopes it needs with `requires_scopes(...)`. That adds the
`@requiresScopes(scopes: [...])` directive to the published schema and checks the caller's
scopes before the resolver runs, raising FORBIDDEN with the missing scopes. Tenancy: a caller
sees only the farms its principal names, by farm id or organization id. Every resolver that
takes a farm, enclosure or alert id checks it with the helpers below. An object of another
tenant is reported exactly like one that does not exist.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.schema_directive import Location
from strawberry.types.field import StrawberryField

from common.errors import ForbiddenError, MissingTokenError
from resolvers.context import GatewayInfo

# Every scope the gateway defines, with what it grants. `fishwatch clients create --scopes` and the
# identity-provider claims use these names.
SCOPES: dict[str, str] = {
    "farms:read": "organizations, farms, enclosures, stocks, readings, observations, harvests",
    "alerts:read": "alerts and their history",
    "alerts:write": "acknowledge and resolve alerts",
    "devices:read": "field devices",
    "catalog:read": "Data Fabric datasets and reading aggregates",
    "models:read": "registered models and versions in MLflow",
    "forecasts:read": "harvest forecasts from the served model",
    "workflows:read": "workflow templates and runs",
    "workflows:write": "start, cancel and approve workflow runs",
    "events:subscribe": "GraphQL subscriptions to live events",
    "events:publish": "publish CloudEvents through POST /events",
}
ALL_SCOPES = frozenset(SCOPES)


class CallerPrincipal(Protocol):
    """The attributes of `gateway.auth.principal.Principal` that resolvers read."""

    @property
    def kind(self) -> str: ...
    @property
    def scopes(self) -> frozenset[str]: ...
    @property
    def farm_ids(self) -> frozenset[str] | None: ...
    @property
    def organization_ids(self) -> frozenset[str] | None: ...
    @property
    def sees_all_farms(self) -> bool: ...


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="requiresScopes",
    description="The caller's access token must carry every one of these scopes.",
)
class RequiresScopes:
    scopes: list[str]


def principal_of(info: GatewayInfo) -> CallerPrincipal:
    """Return the request's principal; a context without one is treated as unauthenticated."""
    principal: CallerPrincipal | None = getattr(info.context, "principal", None)
    if principal is None:
        raise MissingTokenError("this request is not authenticated; send an access token as a Bearer header")
    return principal


def check_scopes(principal: CallerPrincipal, required: Iterable[str], field: str) -> None:
    """Raise ForbiddenError naming the required scopes that `principal` lacks."""
    missing = [scope for scope in required if scope not in principal.scopes]
    if missing:
        raise ForbiddenError(
            f"{field} requires the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
            "which the access token does not carry",
            missing_scopes=missing,
        )


class ScopeExtension(FieldExtension):
    """Check the caller's scopes before the field resolves; publish them as `@requiresScopes`."""

    def __init__(self, scopes: tuple[str, ...]) -> None:
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; add them to resolvers.permissions.SCOPES")
        self.scopes = scopes
        self.field_name = "this field"

    def apply(self, field: StrawberryField) -> None:
        # Strawberry applies field extensions each time a schema is built from the same field, so
        # add the directive once, however many schemas (tests, the CLI, replicas) are built.
        directive = RequiresScopes(scopes=list(self.scopes))
        if not any(isinstance(d, RequiresScopes) and d.scopes == directive.scopes for d in field.directives):
            field.directives.append(directive)
        self.field_name = field.python_name

    def resolve(self, next_: Callable[..., Any], source: Any, info: GatewayInfo, **kwargs: Any) -> Any:
        check_scopes(principal_of(info), self.scopes, info.field_name)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: GatewayInfo, **kwargs: Any
    ) -> Any:
        check_scopes(principal_of(info), self.scopes, info.field_name)
        result = next_(source, info, **kwargs)
        # Subscription resolvers return an async generator, which is handed on unawaited.
        if inspect.isawaitable(result):
            return await result
        return result


def requires_scopes(*scopes: str) -> ScopeExtension:
    """Build the field extension that requires every one of `scopes`."""
    return ScopeExtension(scopes)


async def visible_farm_ids(info: GatewayInfo) -> frozenset[str] | None:
    """Return the farm ids the caller may see, or None when it may see every farm.

    Organization grants are expanded to their farms through the Core System once per request.
    """
    principal = principal_of(info)
    if principal.sees_all_farms:
        return None
    cache = info.context.extras
    cached = cache.get("visible_farm_ids")
    if cached is not None:
        return frozenset(cached)
    farms = set(principal.farm_ids or ())
    for organization_id in sorted(principal.organization_ids or ()):
        cursor: str | None = None
        while True:
            page = await info.context.connectors.core.farms_page(
                limit=500, cursor=cursor, region=None, organization_id=organization_id
            )
            farms.update(farm.id for farm in page.items)
            cursor = page.next_cursor
            if not cursor:
                break
    visible = frozenset(farms)
    cache["visible_farm_ids"] = visible
    return visible


async def can_see_farm(info: GatewayInfo, farm_id: str | None) -> bool:
    """Tell whether the caller may see data of `farm_id`; data of no farm is visible to all."""
    if farm_id is None:
        return True
    visible = await visible_farm_ids(info)
    return visible is None or farm_id in visible


async def restrict_farm_ids(info: GatewayInfo, requested: list[str] | None) -> list[str] | None:
    """Intersect a farm filter with the caller's farms.

    Returns None for "no filter" (the caller sees every farm and asked for none), else the list
    of farm ids to query, which is empty when nothing requested is visible.
    """
    visible = await visible_farm_ids(info)
    if visible is None:
        return requested
    if requested is None:
        return sorted(visible)
    return [farm_id for farm_id in requested if farm_id in visible]
