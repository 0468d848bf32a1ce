"""Relay cursors and connections over lists and over a fake upstream list endpoint."""

from __future__ import annotations

import base64
import json

import pytest

from common.errors import InvalidArgumentError
from resolvers.pagination import (
    CursorPosition,
    UpstreamPage,
    connection_from_list,
    connection_from_upstream,
    decode_cursor,
    encode_cursor,
)

MAX_PAGE_SIZE = 200


def raw_cursor(payload: object) -> str:
    """Encode any JSON value the way the gateway encodes cursors, to forge bad ones."""
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class FakeUpstream:
    """A `limit`/`cursor` list endpoint over `items` that returns at most `cap` items per page.

    Its cursor is the index of the next item, as a string; it records every call.
    """

    def __init__(self, items: list[int], cap: int = 1000) -> None:
        self.items = items
        self.cap = cap
        self.calls: list[tuple[int, str | None]] = []

    async def fetch(self, limit: int, cursor: str | None) -> UpstreamPage[int]:
        self.calls.append((limit, cursor))
        start = int(cursor) if cursor is not None else 0
        end = min(start + min(limit, self.cap), len(self.items))
        next_cursor = str(end) if end < len(self.items) else None
        return UpstreamPage(self.items[start:end], next_cursor)


def node_values(connection) -> list[int]:
    return [edge.node for edge in connection.edges]


async def page_from_upstream(upstream: FakeUpstream, first: int, after: str | None = None, kind: str = "numbers"):
    return await connection_from_upstream(
        kind, upstream.fetch, lambda item: item, first=first, after=after, max_page_size=MAX_PAGE_SIZE
    )


def page_from_list(items: list[int], first: int, after: str | None = None, kind: str = "numbers"):
    return connection_from_list(kind, items, lambda item: item, first=first, after=after, max_page_size=MAX_PAGE_SIZE)


# Cursor encoding


def test_cursor_round_trip_with_upstream():
    cursor = encode_cursor("farms", "page-2", 7)
    assert decode_cursor("farms", cursor) == CursorPosition("page-2", 7)


def test_cursor_round_trip_without_upstream():
    cursor = encode_cursor("farms", None, 3)
    assert decode_cursor("farms", cursor) == CursorPosition(None, 3)


def test_cursor_is_url_safe():
    # An upstream cursor full of bytes that standard base64 turns into '+' and '/'.
    cursor = encode_cursor("farms", "\xff\xfe>>>???", 12345)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursor_has_no_padding():
    for offset in range(6):
        assert not encode_cursor("k", None, offset).endswith("=")


def test_decode_none_is_start():
    assert decode_cursor("farms", None) == CursorPosition(None, 0)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor", id="spaces"),
        pytest.param("%%%%", id="not-base64"),
        pytest.param("zzz", id="not-json"),
        pytest.param("é", id="non-ascii"),
        pytest.param(raw_cursor({"k": "alerts", "o": 1}), id="other-list"),
        pytest.param(raw_cursor({"k": "farms"}), id="no-offset"),
        pytest.param(raw_cursor({"k": "farms", "o": -1}), id="negative-offset"),
        pytest.param(raw_cursor({"k": "farms", "o": "1"}), id="string-offset"),
        pytest.param(raw_cursor({"k": "farms", "o": 1.5}), id="float-offset"),
        pytest.param(raw_cursor({"k": "farms", "o": 1, "u": 5}), id="number-upstream"),
        pytest.param(raw_cursor(["farms", 1]), id="array"),
        pytest.param(raw_cursor(3), id="number"),
        pytest.param(raw_cursor("farms"), id="string"),
    ],
)
def test_decode_rejects_bad_cursor(cursor):
    with pytest.raises(InvalidArgumentError) as caught:
        decode_cursor("farms", cursor)
    assert caught.value.code == "BAD_USER_INPUT"
    assert caught.value.extensions["argument"] == "after"
    assert "was not issued for this list; pass an endCursor of the same list" in caught.value.message


def test_decode_error_shortens_long_cursor():
    cursor = "x" * 500
    with pytest.raises(InvalidArgumentError) as caught:
        decode_cursor("farms", cursor)
    assert f"'{'x' * 80}'" in caught.value.message
    assert "x" * 81 not in caught.value.message


# Paging a list loaded in full


@pytest.mark.parametrize("first", [0, -1, MAX_PAGE_SIZE + 1])
def test_list_first_out_of_range(first):
    with pytest.raises(InvalidArgumentError) as caught:
        page_from_list([1, 2, 3], first)
    assert caught.value.message == f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}"
    assert caught.value.extensions["argument"] == "first"


@pytest.mark.parametrize("first", [1, MAX_PAGE_SIZE])
def test_list_first_at_bounds(first):
    connection = page_from_list(list(range(300)), first)
    assert len(connection.edges) == first


def test_list_first_page():
    connection = page_from_list(list(range(10)), 4)
    assert node_values(connection) == [0, 1, 2, 3]
    assert connection.page_info.has_next_page is True
    assert connection.page_info.has_previous_page is False
    assert connection.total_count == 10


def test_list_cursors_match_edges():
    connection = page_from_list(list(range(10)), 4)
    assert connection.page_info.start_cursor == connection.edges[0].cursor
    assert connection.page_info.end_cursor == connection.edges[-1].cursor


def test_list_next_page():
    first_page = page_from_list(list(range(10)), 4)
    connection = page_from_list(list(range(10)), 4, first_page.page_info.end_cursor)
    assert node_values(connection) == [4, 5, 6, 7]
    assert connection.page_info.has_previous_page is True
    assert connection.page_info.has_next_page is True


def test_list_after_middle_edge():
    first_page = page_from_list(list(range(10)), 4)
    connection = page_from_list(list(range(10)), 3, first_page.edges[1].cursor)
    assert node_values(connection) == [2, 3, 4]


def test_list_last_page():
    items = list(range(10))
    after = page_from_list(items, 8).page_info.end_cursor
    connection = page_from_list(items, 8, after)
    assert node_values(connection) == [8, 9]
    assert connection.page_info.has_next_page is False


def test_list_exact_fit_has_no_next():
    connection = page_from_list(list(range(4)), 4)
    assert connection.page_info.has_next_page is False


def test_list_walk_visits_every_item_once():
    items = list(range(23))
    seen: list[int] = []
    after = None
    for _ in range(10):
        connection = page_from_list(items, 5, after)
        seen.extend(node_values(connection))
        if not connection.page_info.has_next_page:
            break
        after = connection.page_info.end_cursor
    assert seen == items


def test_list_empty():
    connection = page_from_list([], 5)
    assert connection.edges == []
    assert connection.page_info.start_cursor is None
    assert connection.page_info.end_cursor is None
    assert connection.page_info.has_next_page is False
    assert connection.total_count == 0


def test_list_after_past_end():
    connection = page_from_list([1, 2], 5, encode_cursor("numbers", None, 9))
    assert connection.edges == []
    assert connection.page_info.has_next_page is False


def test_list_rejects_other_list_cursor():
    other = page_from_list(list(range(10)), 2, kind="farms:north:None").page_info.end_cursor
    with pytest.raises(InvalidArgumentError):
        page_from_list(list(range(10)), 2, other, kind="farms:south:None")


def test_list_nodes_field():
    connection = page_from_list([5, 6, 7], 2)
    assert connection.nodes() == [5, 6]


# Paging an upstream list endpoint


async def test_upstream_first_page():
    upstream = FakeUpstream(list(range(10)))
    connection = await page_from_upstream(upstream, 4)
    assert node_values(connection) == [0, 1, 2, 3]
    assert upstream.calls == [(4, None)]
    assert connection.page_info.has_next_page is True
    assert connection.page_info.has_previous_page is False
    assert connection.total_count is None


async def test_upstream_consumed_page_jumps():
    # The gateway requests 4 items, the upstream returns 4 and a cursor to the next page,
    # so the last edge's cursor points at that page with nothing to skip.
    upstream = FakeUpstream(list(range(10)))
    connection = await page_from_upstream(upstream, 4)
    assert decode_cursor("numbers", connection.edges[-1].cursor) == CursorPosition("4", 0)
    assert decode_cursor("numbers", connection.edges[0].cursor) == CursorPosition(None, 1)


async def test_upstream_next_page_starts_at_next_cursor():
    upstream = FakeUpstream(list(range(10)))
    first_page = await page_from_upstream(upstream, 4)
    connection = await page_from_upstream(upstream, 4, first_page.page_info.end_cursor)
    assert node_values(connection) == [4, 5, 6, 7]
    assert upstream.calls[-1] == (4, "4")
    assert connection.page_info.has_previous_page is True


async def test_upstream_after_middle_edge():
    # A cursor inside an upstream page re-reads that page from its start and skips the offset.
    upstream = FakeUpstream(list(range(10)))
    first_page = await page_from_upstream(upstream, 4)
    connection = await page_from_upstream(upstream, 3, first_page.edges[1].cursor)
    assert node_values(connection) == [2, 3, 4]
    assert upstream.calls[-1] == (5, None)


async def test_upstream_short_page_jumps():
    # The upstream caps its pages at 3 items, fewer than asked: the page ends early and its
    # last edge points at the next upstream page.
    upstream = FakeUpstream(list(range(10)), cap=3)
    connection = await page_from_upstream(upstream, 5)
    assert node_values(connection) == [0, 1, 2]
    assert connection.page_info.has_next_page is True
    assert decode_cursor("numbers", connection.page_info.end_cursor) == CursorPosition("3", 0)


async def test_upstream_last_page():
    upstream = FakeUpstream(list(range(6)))
    first_page = await page_from_upstream(upstream, 4)
    connection = await page_from_upstream(upstream, 4, first_page.page_info.end_cursor)
    assert node_values(connection) == [4, 5]
    assert connection.page_info.has_next_page is False


async def test_upstream_end_without_next_cursor():
    # The list ends exactly where the window ends: no next upstream page, no next page.
    upstream = FakeUpstream(list(range(4)))
    connection = await page_from_upstream(upstream, 4)
    assert connection.page_info.has_next_page is False
    assert decode_cursor("numbers", connection.page_info.end_cursor) == CursorPosition(None, 4)


@pytest.mark.parametrize(("size", "first", "cap"), [(23, 5, 1000), (23, 5, 3), (23, 7, 4), (1, 1, 1), (40, 10, 10)])
async def test_upstream_walk_visits_every_item_once(size, first, cap):
    items = list(range(size))
    upstream = FakeUpstream(items, cap=cap)
    seen: list[int] = []
    after = None
    for _ in range(size + 1):
        connection = await page_from_upstream(upstream, first, after)
        seen.extend(node_values(connection))
        if not connection.page_info.has_next_page:
            break
        after = connection.page_info.end_cursor
    assert seen == items


async def test_upstream_offsets_stay_small():
    # Walking by endCursor never requests from the upstream more than one page's worth of items.
    upstream = FakeUpstream(list(range(50)))
    after = None
    while True:
        connection = await page_from_upstream(upstream, 6, after)
        if not connection.page_info.has_next_page:
            break
        after = connection.page_info.end_cursor
    assert max(limit for limit, _ in upstream.calls) == 6


async def test_upstream_empty():
    upstream = FakeUpstream([])
    connection = await page_from_upstream(upstream, 5)
    assert connection.edges == []
    assert connection.page_info.end_cursor is None
    assert connection.page_info.has_next_page is False


async def test_upstream_bad_cursor_skips_fetch():
    upstream = FakeUpstream(list(range(10)))
    with pytest.raises(InvalidArgumentError):
        await page_from_upstream(upstream, 4, "zzz")
    assert upstream.calls == []


async def test_upstream_first_out_of_range_skips_fetch():
    upstream = FakeUpstream(list(range(10)))
    with pytest.raises(InvalidArgumentError):
        await page_from_upstream(upstream, 0)
    assert upstream.calls == []
