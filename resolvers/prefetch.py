"""Farm-level prefetch for enclosure fields.

A farm overview resolves a handful of fields on every enclosure of every farm. Resolving each of
them as its own coroutine costs a task and a DataLoader future per field, which dominated the
overview's CPU time. Instead, `Farm.enclosures` awaits the farm-level loaders its selection needs
once, and the enclosure fields read the finished results synchronously. A field whose data was
not prefetched, or whose prefetch failed, falls back to awaiting the loader, so errors still land
on the field that needs the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry.dataloader import DataLoader

from resolvers.context import GatewayInfo

T = TypeVar("T")
R = TypeVar("R")

# Enclosure fields and the farm-level loader (attribute of resolvers.loaders.Loaders) each reads.
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


def node_field_names(info: GatewayInfo) -> frozenset[str]:
    """Return the fields selected on the nodes of the connection `info` resolves.

    Looks through `nodes` and `edges.node`, fragments and inline fragments. The result depends
    only on the field's nodes in the document, so it is computed once per request and field.
    """
    raw = info._raw_info
    cache: dict[int, tuple[Any, frozenset[str]]] = info.context.extras.setdefault("node_field_names", {})
    key = id(raw.field_nodes[0])
    cached = cache.get(key)
    if cached is not None and cached[0] is raw.field_nodes[0]:
        return cached[1]
    names: set[str] = set()
    for connection in raw.field_nodes:
        for field in _fields(connection.selection_set, raw.fragments):
            if field.name.value == "nodes":
                names.update(item.name.value for item in _fields(field.selection_set, raw.fragments))
            elif field.name.value == "edges":
                for edge_field in _fields(field.selection_set, raw.fragments):
                    if edge_field.name.value == "node":
                        names.update(item.name.value for item in _fields(edge_field.selection_set, raw.fragments))
    found = frozenset(names)
    # The node is kept with the result so that its id cannot be reused by another node meanwhile.
    cache[key] = (raw.field_nodes[0], found)
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


async def prefetch(loaders: object, names: set[str], key: str) -> None:
    """Await every loader the selected enclosure fields need; failures stay in the loaders' cache."""
    wanted = {LOADER_OF_FIELD[name] for name in names if name in LOADER_OF_FIELD}
    if wanted:
        await asyncio.gather(*(getattr(loaders, attribute).load(key) for attribute in wanted), return_exceptions=True)


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
