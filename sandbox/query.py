"""Query-string validation and cursor paging for list endpoints.

Each endpoint declares its parameters; any other name is rejected, so a typo such as `farmid`
fails loudly instead of returning an unfiltered list. Cursors are opaque to clients: base64url
JSON holding the sort key of the last item served and a fingerprint of the filters, so a cursor
only continues the query that produced it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from aiohttp import web

from sandbox.http import ApiError

T = TypeVar("T")
SortKey = tuple[Any, ...]
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGING_PARAMS = ("limit", "cursor")
TIME_EXAMPLE = "2026-11-20T06:00:00Z"


def parse_time(name: str, raw: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset; the 400 message names the parameter or field."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or "T" not in raw.upper() or value.tzinfo is None:
        raise ApiError.invalid(f"{name} '{raw}' is not an RFC 3339 time; expected e.g. {TIME_EXAMPLE}")
    return value.astimezone(UTC)


class Query:
    """The validated query string of one request."""

    def __init__(self, request: web.Request, allowed: Sequence[str], *, paged: bool = False) -> None:
        self._query = request.query
        self._path = request.path
        self.paged = paged
        allowed_names = tuple(allowed) + (PAGING_PARAMS if paged else ())
        unknown = sorted(set(self._query) - set(allowed_names))
        if unknown:
            accepted = ", ".join(allowed_names) or "none"
            raise ApiError.invalid(f"unknown query parameter '{unknown[0]}'; accepted parameters: {accepted}")

    def _single(self, name: str) -> str | None:
        values = self._query.getall(name, [])
        if len(values) > 1:
            raise ApiError.invalid(f"query parameter '{name}' was given {len(values)} times; give it once")
        if values and not values[0]:
            raise ApiError.invalid(f"query parameter '{name}' is empty; give a value or leave it out")
        return values[0] if values else None

    def ids(self, name: str) -> list[str]:
        """Return the values of a repeatable id filter (empty when absent)."""
        values = self._query.getall(name, [])
        if any(not value for value in values):
            raise ApiError.invalid(f"query parameter '{name}' has an empty value; give an id")
        return list(dict.fromkeys(values))

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._single(name)
        if value is None and required:
            raise ApiError.invalid(f"query parameter '{name}' is required")
        return value

    def choice(self, name: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in allowed:
            raise ApiError.invalid(f"{name} '{value}' is not one of: {', '.join(allowed)}")
        return value

    def choices(self, name: str, allowed: Sequence[str]) -> list[str]:
        values = self.ids(name)
        for value in values:
            if value not in allowed:
                raise ApiError.invalid(f"{name} '{value}' is not one of: {', '.join(allowed)}")
        return values

    def integer(self, name: str, low: int, high: int) -> int | None:
        raw = self._single(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise ApiError.invalid(f"{name} '{raw}' is not an integer; expected {low} to {high}") from None
        if not low <= value <= high:
            raise ApiError.invalid(f"{name} {value} is out of range; expected {low} to {high}")
        return value

    def time(self, name: str) -> datetime | None:
        raw = self._single(name)
        return None if raw is None else parse_time(name, raw)

    def day(self, name: str) -> date | None:
        """Parse a date (YYYY-MM-DD) or an RFC 3339 time, which counts as its UTC date."""
        raw = self._single(name)
        if raw is None:
            return None
        if len(raw) == 10:
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise ApiError.invalid(f"{name} '{raw}' is not a date; expected e.g. 2026-11-20") from None
        return parse_time(name, raw).date()

    def window(self, start_name: str = "from", end_name: str = "to") -> tuple[datetime | None, datetime | None]:
        start, end = self.time(start_name), self.time(end_name)
        if start is not None and end is not None and start >= end:
            raise ApiError.invalid(
                f"{start_name} {self.text(start_name)} must be before {end_name} {self.text(end_name)}"
            )
        return start, end

    def page(self) -> Page:
        """Return the limit and the decoded cursor of a paged list."""
        limit = self.integer("limit", 1, MAX_LIMIT)
        return Page(limit or DEFAULT_LIMIT, self._cursor_key(), self._fingerprint())

    def _fingerprint(self) -> str:
        filters = sorted((key, value) for key, value in self._query.items() if key not in PAGING_PARAMS)
        digest = hashlib.sha256(json.dumps([self._path, filters]).encode()).hexdigest()
        return digest[:16]

    def _cursor_key(self) -> SortKey | None:
        raw = self._single("cursor")
        if raw is None:
            return None
        try:
            decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            key, fingerprint = decoded["k"], decoded["f"]
        except (ValueError, binascii.Error, KeyError, TypeError):
            raise ApiError.invalid(
                f"cursor '{raw}' is not a cursor from this API; pass next_cursor unchanged"
            ) from None
        if fingerprint != self._fingerprint() or not isinstance(key, list):
            raise ApiError.invalid("cursor belongs to a different query; repeat the filters of the first page")
        return tuple(key)


@dataclass(frozen=True, slots=True)
class Page:
    """Page request: the sort key of the last item already served (`after`) and the page size."""

    limit: int
    after: SortKey | None
    fingerprint: str

    def cursor_for(self, key: SortKey) -> str:
        payload = json.dumps({"k": list(key), "f": self.fingerprint}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    def slice(self, items: Sequence[T], sort_key: Callable[[T], SortKey]) -> tuple[list[T], str | None]:
        """Return the page of `items` (any order) after the cursor, and the next cursor or None."""
        ordered = sorted(items, key=sort_key)
        keys = [sort_key(item) for item in ordered]
        start = 0
        if self.after is not None:
            try:
                start = bisect_right(keys, self.after)
            except TypeError:
                raise ApiError.invalid("cursor is not a cursor of this list; pass next_cursor unchanged") from None
        chunk = ordered[start : start + self.limit]
        has_more = start + self.limit < len(ordered)
        next_cursor = self.cursor_for(keys[start + self.limit - 1]) if has_more and chunk else None
        return chunk, next_cursor
