"""Stream positions: the ids of events in the retained stream, ordered and comparable.

A position has the form of a Redis stream entry id, "<milliseconds>-<sequence>", for both
implementations of the bus, so a client's resume position means the same thing whichever one
served it.
"""

from __future__ import annotations

import re

from subscriptions.errors import ResumePositionInvalidError

Position = tuple[int, int]

_POSITION = re.compile(r"^(\d{1,20})-(\d{1,20})$")
ZERO: Position = (0, 0)


def parse_position(raw: str) -> Position:
    """Parse "<ms>-<seq>"; raises ResumePositionInvalidError on anything else."""
    match = _POSITION.match(raw)
    if match is None:
        raise ResumePositionInvalidError(
            f"resume position '{raw}' is malformed; pass the `position` of the last event you received, "
            "for example '1733337600000-0'",
            position=raw,
        )
    return int(match.group(1)), int(match.group(2))


def format_position(position: Position) -> str:
    return f"{position[0]}-{position[1]}"
