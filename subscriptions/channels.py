"""Redis names the bus uses: pub/sub channels per event family and farm, the replay stream, dead letters.

An event goes to exactly one channel, "<prefix>:events:<family>:<farm>", where the farm id is
percent-encoded (so glob characters and ':' cannot leak into patterns) and is empty for an event
without a farm. A subscriber asks for exact channels when it names both family and farms, and for
patterns otherwise, so a replica receives only the families and farms its clients asked for.
"""

from __future__ import annotations

from urllib.parse import quote

from subscriptions.events import CloudEvent
from subscriptions.filters import ChannelKey


def _farm_segment(farm_id: str | None) -> str:
    return "" if farm_id is None else quote(farm_id, safe="")


def stream_key(prefix: str) -> str:
    return f"{prefix}:event-stream"


def dead_letter_key(prefix: str) -> str:
    return f"{prefix}:dead-letters"


def control_channel(prefix: str) -> str:
    """A channel no event uses, kept subscribed so the subscriber connection is always open."""
    return f"{prefix}:bus-control"


def channel_of_event(prefix: str, event: CloudEvent) -> str:
    return f"{prefix}:events:{event.family}:{_farm_segment(event.farmid)}"


def subscription_name(prefix: str, key: ChannelKey) -> tuple[str, bool]:
    """Return the channel or pattern for a channel key, and whether it is a pattern."""
    family, farm_id = key
    if family is not None and farm_id is not None:
        return f"{prefix}:events:{family}:{_farm_segment(farm_id)}", False
    if family is not None:
        return f"{prefix}:events:{family}:*", True
    if farm_id is not None:
        return f"{prefix}:events:*:{_farm_segment(farm_id)}", True
    return f"{prefix}:events:*", True
