"""Which events a subscriber receives, and the channel keys that carry them."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from common.errors import InvalidArgumentError
from subscriptions.events import FAMILIES, TYPE_NAMESPACE, CloudEvent

# A channel key is (family, farm id); None in a slot means "every value", like a wildcard.
ChannelKey = tuple[str | None, str | None]


def _family_of_filter(type_filter: str) -> str | None:
    """Return the one family a type filter stays within, or None when it spans every family."""
    if not type_filter.startswith(TYPE_NAMESPACE):
        raise InvalidArgumentError(
            f"event type filter '{type_filter}' is outside the namespace {TYPE_NAMESPACE}; "
            "pass a type such as com.fishwatch.alert.raised or a prefix ending in '.'",
            argument="types",
        )
    rest = type_filter[len(TYPE_NAMESPACE) :]
    family, dot, _ = rest.partition(".")
    if not dot:
        # "com.fishwatch." or "com.fishwatch.al" could match several families.
        return None
    if family not in FAMILIES:
        raise InvalidArgumentError(
            f"event type filter '{type_filter}' names the unknown family '{family}'; "
            f"families are {', '.join(FAMILIES)}",
            argument="types",
        )
    return family


@functools.lru_cache(maxsize=1024)
def _build_filter(types: tuple[str, ...], farm_ids: frozenset[str], enclosure_ids: frozenset[str]) -> EventFilter:
    for type_filter in types:
        _family_of_filter(type_filter)
    return EventFilter(types, farm_ids, enclosure_ids)


@dataclass(frozen=True)
class EventFilter:
    """Types (exact, or a prefix ending in '.'), farms and enclosures; an empty field matches everything."""

    types: tuple[str, ...] = ()
    farm_ids: frozenset[str] = frozenset()
    enclosure_ids: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls, types: Iterable[str] = (), farm_ids: Iterable[str] = (), enclosure_ids: Iterable[str] = ()
    ) -> EventFilter:
        """Validate and build a filter; raises InvalidArgumentError on a type outside Fish Watch.

        Equal filters are the same object while they are among the most recent 1024 built, so
        thousands of subscribers with one filter share it.
        """
        return _build_filter(tuple(types), frozenset(farm_ids), frozenset(enclosure_ids))

    def matches(self, event: CloudEvent) -> bool:
        if self.farm_ids and event.farmid not in self.farm_ids:
            return False
        if self.enclosure_ids and event.enclosureid not in self.enclosure_ids:
            return False
        if not self.types:
            return True
        return any(
            event.type == type_filter or (type_filter.endswith(".") and event.type.startswith(type_filter))
            for type_filter in self.types
        )

    def channel_keys(self) -> list[ChannelKey]:
        """Return disjoint channel keys that together carry every event this filter can match."""
        families: set[str | None] = {_family_of_filter(type_filter) for type_filter in self.types}
        if not families or None in families:
            families = {None}
        farms: list[str | None] = [*sorted(self.farm_ids)] if self.farm_ids else [None]
        return [(family, farm) for family in sorted(families, key=str) for farm in farms]


def keys_of_event(event: CloudEvent) -> list[ChannelKey]:
    """Return every channel key whose subscribers may want the event, each once."""
    family = event.family
    farm = event.farmid
    if farm is None:
        return [(family, None), (None, None)]
    return [(family, farm), (family, None), (None, farm), (None, None)]
