"""Prefetch of farm-level data for the fields of farms and enclosures.

A farm overview resolves a handful of fields on every farm and on every enclosure of every farm.
Resolving each of them as its own coroutine costs a task and a DataLoader future per field, which
dominated the overview's CPU time. Instead, `Query.farms` awaits once, for the whole page, the
farm-level loaders that its selection needs (for the farm fields and for the enclosure fields
selected under `enclosures`), and those fields read the finished results synchronously. All
those loads start together, so the upstream calls run in parallel. A field whose data was not
prefetched, or whose prefetch failed, falls back to awaiting the loader, so errors still land on
the field that needs the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry.dataloader import DataLoader

from resolvers.context import GatewayInfo

T = TypeVar("T")
R = TypeVar("R")

# Farm fields and the farm-level loader (attribute of resolvers.loaders.Loaders) each reads.
FARM_LOADER_OF_FIELD = {
    "enclosureCount": "enclosures_of_farm",
    "enclosures": "enclosures_of_farm",
    "fishCount": "stocks_of_farm",
    "biomassKg": "stocks_of_farm",
    "activeAlertCount": "active_alerts_of_farm",
}

# Enclosure fields and the farm-level loader each reads.
LOADER_OF_FIELD = {
    "stocks": "stocks_of_farm",
    "fishCount": "stocks_of_farm",
    "biomassKg": "stocks_of_farm",
    "stockingDensityKgPerM3": "stocks_of_farm",
    "latestReadings": "latest_readings_of_farm",
    "thresholds": "thresholds_of_farm",
    "devices": "devices_of_farm",
    "activeAlerts": "active_alerts_of_farm",
}


def node_field_names(info: GatewayInfo, nested: str | None = None) -> frozenset[str]:
    """Return the fields selected on the nodes of the connection `info` resolves.

    With `nested`, return those selected on the nodes of the connection field `nested` of those
    nodes instead (for example the enclosure fields under `farms { nodes { enclosures } }`).
    Looks through `nodes` and `edges.node`, fragments and inline fragments. The result depends
    only on the field's nodes in the document, so it is computed once per request and field.
    """
    raw = info._raw_info
    cache: dict[tuple[int, str | None], tuple[Any, frozenset[str]]] = info.context.extras.setdefault(
        "node_field_names", {}
    )
    key = (id(raw.field_nodes[0]), nested)
    cached = cache.get(key)
    if cached is not None and cached[0] is raw.field_nodes[0]:
        return cached[1]
    fields = _node_fields(raw.field_nodes, raw.fragments)
    if nested is not None:
        fields = _node_fields([field for field in fields if field.name.value == nested], raw.fragments)
    found = frozenset(field.name.value for field in fields)
    # The node is kept with the result so that its id cannot be reused by another node meanwhile.
    cache[key] = (raw.field_nodes[0], found)
    return found


def _node_fields(connections: Iterable[FieldNode], fragments: dict[str, FragmentDefinitionNode]) -> list[FieldNode]:
    """Return the fields selected on the nodes of connection fields, through `nodes` or `edges.node`."""
    found: list[FieldNode] = []
    for connection in connections:
        for field in _fields(connection.selection_set, fragments):
            if field.name.value == "nodes":
                found.extend(_fields(field.selection_set, fragments))
            elif field.name.value == "edges":
                for edge_field in _fields(field.selection_set, fragments):
                    if edge_field.name.value == "node":
                        found.extend(_fields(edge_field.selection_set, fragments))
    return found


def _fields(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]) -> list[FieldNode]:
    """Return the fields of a selection set, looking through fragment spreads and inline fragments.

    Directives are not evaluated: a field under `@skip` still counts, which at worst prefetches
    data that goes unused.
    """
    found: list[FieldNode] = []
    if selection_set is None:
        return found
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found.extend(_fields(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found.extend(_fields(fragment.selection_set, fragments))
    return found


# Loaders whose data needs a scope beyond farms:read, which every field here already requires. A
# caller without it gets FORBIDDEN on the fields, so its data is not fetched ahead for nothing.
SCOPE_OF_LOADER = {"active_alerts_of_farm": "alerts:read", "devices_of_farm": "devices:read"}


def loaders_for(info: GatewayInfo, names: Iterable[str], table: dict[str, str]) -> set[str]:
    """Return the loader attributes that the selected field `names` read, by `table`, that the caller may read."""
    scopes: frozenset[str] = getattr(getattr(info.context, "principal", None), "scopes", frozenset())
    return {
        table[name]
        for name in names
        if name in table and SCOPE_OF_LOADER.get(table[name], "farms:read") in scopes
    }


def farm_page_loaders(info: GatewayInfo) -> set[str]:
    """Return the farm-level loaders that the fields selected on a page of farms read."""
    names = node_field_names(info)
    needed = loaders_for(info, names, FARM_LOADER_OF_FIELD)
    if "enclosures" in names:
        needed |= loaders_for(info, node_field_names(info, "enclosures"), LOADER_OF_FIELD)
    return needed


async def prefetch(loaders: object, attributes: Iterable[str], keys: Iterable[str]) -> None:
    """Load every key through every loader, together. Failures stay in the loaders' cache."""
    loads = [getattr(loaders, attribute).load(key) for attribute in attributes for key in keys]
    if loads:
        await asyncio.gather(*loads, return_exceptions=True)


def settled(loader: DataLoader[str, Any], key: str) -> bool:
    """Return whether the loader has finished loading `key`, with a value or an error."""
    future: Any = loader.cache_map.get(key) if loader.cache else None
    return future is not None and future.done()


def from_loader(loader: DataLoader[str, T], key: str, convert: Callable[[T], R]) -> R | Awaitable[R]:
    """Convert the loader's result for `key` now if it is ready, else return an awaitable of it.

    graphql-core awaits an awaitable that a synchronous resolver returns, so a resolver can return
    this directly.
    """
    future: Any = loader.cache_map.get(key) if loader.cache else None
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return convert(future.result())

    async def later() -> R:
        return convert(await loader.load(key))

    return later()
