"""Relay-style cursor connections over upstream cursors and over lists loaded in full.

A cursor is opaque to clients: URL-safe base64 of a small JSON object holding the list it was
issued for (`k`), the upstream cursor of the page it came from (`u`, absent for lists loaded in
full) and the number of items before it on that page (`o`). Paging after an edge therefore
re-reads that upstream page from its start and skips `o` items, which works with any
`limit`/`cursor` API and keeps every edge's cursor exact.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import strawberry

from common.errors import InvalidArgumentError

T = TypeVar("T")
P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


@strawberry.type(description="Where a page sits in its list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow the last edge.")
    has_previous_page: bool = strawberry.field(description="Whether items precede the first edge.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge, if any.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge; pass it as `after`.")


@strawberry.type(description="One item of a list with its cursor.")
class Edge(Generic[T]):
    node: T = strawberry.field(description="The item.")
    cursor: str = strawberry.field(description="Opaque cursor of this item; pass it as `after`.")


@strawberry.type(description="A page of a list, in the Relay connection shape.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist.")
    total_count: int | None = strawberry.field(
        description="Number of items in the whole list, where known without reading it all."
    )

    @strawberry.field(description="The items of this page without their cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


@dataclass(frozen=True)
class CursorPosition:
    upstream: str | None
    offset: int


def cursor_prefix(kind: str) -> str:
    """Return the start of every cursor's JSON text for the list `kind`. Pages reuse it for each edge."""
    return '{"k":' + json.dumps(kind) + ',"o":'


def encode_cursor(kind: str, upstream: str | None, offset: int, prefix: str | None = None) -> str:
    # The JSON text is assembled by hand because a page encodes one cursor per edge. It is the
    # compact `json.dumps` of {"k": kind, "o": offset, "u": upstream}, so cursors stay stable.
    text = (prefix or cursor_prefix(kind)) + str(offset)
    text += "}" if upstream is None else ',"u":' + json.dumps(upstream) + "}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None, max_offset: int | None = None) -> CursorPosition:
    """Decode an `after` cursor issued for the list `kind`; raise InvalidArgumentError if it is not one.

    Upstream-paged cursors never carry an offset above `max_offset` (the maximum page size), so a
    larger one is forged and rejected before it can become an oversized upstream request.
    """
    if cursor is None:
        return CursorPosition(None, 0)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        offset = payload["o"]
        upstream = payload.get("u")
        valid = (
            payload.get("k") == kind
            and isinstance(offset, int)
            and not isinstance(offset, bool)
            and offset >= 0
            and (max_offset is None or offset <= max_offset)
            and (upstream is None or isinstance(upstream, str))
        )
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise InvalidArgumentError(
            f"cursor '{cursor[:80]}' was not issued for this list; pass an endCursor of the same list",
            argument="after",
        )
    return CursorPosition(upstream, offset)


def check_first(first: int, max_page_size: int) -> None:
    if not 1 <= first <= max_page_size:
        raise InvalidArgumentError(f"first must be between 1 and {max_page_size}, got {first}", argument="first")


def connection_from_list(
    kind: str, items: Sequence[P], convert: Callable[[P], T], *, first: int, after: str | None, max_page_size: int
) -> Connection[T]:
    """Page a list that was loaded in full (for example through a DataLoader)."""
    check_first(first, max_page_size)
    start = decode_cursor(kind, after).offset
    window = items[start : start + first]
    prefix = cursor_prefix(kind)
    edges = [
        Edge(node=convert(item), cursor=encode_cursor(kind, None, start + index + 1, prefix))
        for index, item in enumerate(window)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + first < len(items),
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=len(items),
    )


class PageLike(Protocol[P_co]):
    """One upstream page: the connectors' `Page`, or an `UpstreamPage` built from another API's shape."""

    @property
    def items(self) -> Sequence[P_co]: ...

    @property
    def next_cursor(self) -> str | None: ...


@dataclass(frozen=True)
class UpstreamPage(Generic[P]):
    """One upstream page of an API whose page fields have other names (MLflow's, for example)."""

    items: Sequence[P]
    next_cursor: str | None


async def connection_from_upstream(
    kind: str,
    fetch: Callable[[int, str | None], Awaitable[PageLike[P]]],
    convert: Callable[[P], T],
    *,
    first: int,
    after: str | None,
    max_page_size: int,
) -> Connection[T]:
    """Page an upstream list endpoint; `fetch(limit, upstream_cursor)` returns one upstream page."""
    check_first(first, max_page_size)
    position = decode_cursor(kind, after, max_offset=max_page_size)
    page = await fetch(position.offset + first, position.upstream)
    window = list(page.items[position.offset :])[:first]
    prefix = cursor_prefix(kind)
    edges = []
    for index, item in enumerate(window):
        consumed = position.offset + index + 1
        if consumed == len(page.items) and page.next_cursor is not None:
            # The edge ends its upstream page: point at the next page, so offsets stay small.
            cursor = encode_cursor(kind, page.next_cursor, 0, prefix)
        else:
            cursor = encode_cursor(kind, position.upstream, consumed, prefix)
        edges.append(Edge(node=convert(item), cursor=cursor))
    more_on_page = len(page.items) > position.offset + first
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more_on_page or page.next_cursor is not None,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=None,
    )
