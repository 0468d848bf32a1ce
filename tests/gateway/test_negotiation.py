"""Accept-header negotiation for GraphQL over HTTP, without a server."""

from __future__ import annotations

import pytest

from gateway.negotiation import GRAPHQL_RESPONSE_JSON, JSON, choose_media_type, wants_html


@pytest.mark.parametrize("accept", [None, "", "   "])
def test_choose_missing_accept(accept):
    assert choose_media_type(accept) == JSON


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (JSON, JSON),
        ("Application/JSON", JSON),
        (f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("*/*", JSON),
        ("application/*", JSON),
    ],
)
def test_choose_single_type(accept, expected):
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # Equal q: the earlier entry wins.
        (f"{GRAPHQL_RESPONSE_JSON}, {JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", JSON),
        # Higher q wins whatever the order.
        (f"{JSON};q=0.9, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, {JSON};q=0.8", JSON),
        # At equal q an explicit type beats a wildcard listed before it.
        (f"*/*, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        # A wildcard with a higher q than the explicit type still wins, and maps to JSON.
        (f"{GRAPHQL_RESPONSE_JSON};q=0.1, */*", JSON),
        # What a browser sends: the wildcard admits JSON.
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),
    ],
)
def test_choose_preference_order(accept, expected):
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "text/xml",
        "text/html",
        "text/*",
        f"{GRAPHQL_RESPONSE_JSON};q=0, {JSON};q=0",
        f"{JSON};q=0",
        "*/*;q=0",
        f"{JSON};q=abc",
    ],
)
def test_choose_nothing_acceptable(accept):
    assert choose_media_type(accept) is None


def test_choose_ignores_empty_entries():
    assert choose_media_type(f", ,{GRAPHQL_RESPONSE_JSON},") == GRAPHQL_RESPONSE_JSON


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "TEXT/HTML",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        f"{JSON}, text/html;q=0.1",
    ],
)
def test_wants_html_browser(accept):
    assert wants_html(accept) is True


@pytest.mark.parametrize(
    "accept",
    [None, "", JSON, "*/*", "text/*", "text/html;q=0", f"{JSON}, text/html; q=0"],
)
def test_wants_html_not_browser(accept):
    assert wants_html(accept) is False
