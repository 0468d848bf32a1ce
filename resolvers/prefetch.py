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
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

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


def field_names(selections: Iterable[Selection]) -> set[str]:
    """Return the names of the fields selected directly, looking through fragments."""
    names: set[str] = set()
    for selection in selections:
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            names |= field_names(selection.selections)
    return names


def node_field_names(connection_field: Selection) -> set[str]:
    """Return the fields selected on the nodes of a connection (through `nodes` or `edges.node`)."""
    names: set[str] = set()
    if not isinstance(connection_field, SelectedField):
        return names
    for selection in _fields(connection_field.selections):
        if selection.name == "nodes":
            names |= field_names(selection.selections)
        elif selection.name == "edges":
            for edge_field in _fields(selection.selections):
                if edge_field.name == "node":
                    names |= field_names(edge_field.selections)
    return names


def _fields(selections: Iterable[Selection]) -> list[SelectedField]:
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, SelectedField):
            found.append(selection)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.extend(_fields(selection.selections))
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
