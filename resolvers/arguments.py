"""Checks of field arguments shared by several resolvers; each raises InvalidArgumentError."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

import strawberry

from common.errors import InvalidArgumentError


def utc(value: dt.datetime) -> dt.datetime:
    """Treat a naive datetime as UTC, since GraphQL clients often omit the offset."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def time_range(
    start: dt.datetime | None, end: dt.datetime | None, default_span: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    """Resolve optional `from`/`to` arguments to a UTC range, `to` defaulting to now."""
    end = utc(end) if end is not None else dt.datetime.now(dt.UTC)
    start = utc(start) if start is not None else end - default_span
    if start >= end:
        raise InvalidArgumentError(
            f"from ({start.isoformat()}) must be earlier than to ({end.isoformat()})", argument="from"
        )
    return start, end


def date_range(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidArgumentError(f"from ({start}) must not be after to ({end})", argument="from")


First = Annotated[int, strawberry.argument(description="Page size, from 1 to the gateway's maximum (200 by default).")]
After = Annotated[str | None, strawberry.argument(description="Cursor to continue after: a previous endCursor.")]
FromDate = Annotated[dt.date | None, strawberry.argument(name="from", description="First day, inclusive.")]
ToDate = Annotated[dt.date | None, strawberry.argument(description="Last day, inclusive.")]
FromTime = Annotated[
    dt.datetime | None,
    strawberry.argument(name="from", description="Start of the range (UTC); default: a span before `to`."),
]
ToTime = Annotated[dt.datetime | None, strawberry.argument(description="End of the range (UTC); default: now.")]


def wire(value: enum.Enum) -> str:
    """Return the subsystems' wire value of a GraphQL enum member."""
    return str(value.value)
