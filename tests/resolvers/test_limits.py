"""Depth and alias limits through fragments, and token counting, on a small stand-in schema."""

from __future__ import annotations

import time

import pytest
from graphql import GraphQLSyntaxError, build_schema, parse, specified_rules, validate

from resolvers.limits import QUERY_TOO_COMPLEX, count_tokens, depth_and_alias_rule

SCHEMA = build_schema(
    """
    type Query { farm: Farm, farms: [Farm] }
    type Farm { id: ID, name: String, enclosures: [Enclosure] }
    type Enclosure { id: ID, farm: Farm, readings: [Reading] }
    type Reading { value: Float }
    """
)


def limit_errors(document: str, max_depth: int = 100, max_aliases: int = 100) -> list:
    return validate(SCHEMA, parse(document), [depth_and_alias_rule(max_depth, max_aliases)])


def measured(document: str, limit: str) -> int | None:
    """Return the depth or alias count the rule reports against a limit of 0, or None if it reports none."""
    max_depth = 0 if limit == "depth" else 100
    max_aliases = 0 if limit == "aliases" else 100
    errors = limit_errors(document, max_depth=max_depth, max_aliases=max_aliases)
    matching = [error for error in errors if error.extensions["limit"] == limit]
    if not matching:
        return None
    # The message names the measured value, for example "is 3 fields deep" or "uses 4 aliases".
    words = matching[0].message.split()
    return int(words[words.index("is" if limit == "depth" else "uses") + 1])


# Depth


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        ("{ farm { id } }", 2),
        ("{ farm { enclosures { readings { value } } } }", 4),
        ("{ farm { id enclosures { id } } }", 3),
        ("{ farm { ... on Farm { enclosures { id } } } }", 3),
        ("{ farm { ...F } } fragment F on Farm { enclosures { farm { id } } }", 4),
        ("{ ...Q } fragment Q on Query { farm { ...F } } fragment F on Farm { enclosures { id } }", 3),
        ("{ farm { __typename } }", 1),
    ],
)
def test_depth_counts(document, depth):
    assert measured(document, "depth") == depth


def test_depth_at_limit_passes():
    assert limit_errors("{ farm { enclosures { id } } }", max_depth=3) == []


def test_depth_over_limit_rejected():
    errors = limit_errors("query Deep { farm { enclosures { farm { id } } } }", max_depth=3)
    assert len(errors) == 1
    assert errors[0].message == "operation 'Deep' is 4 fields deep, more than the limit of 3"
    assert errors[0].extensions == {"code": QUERY_TOO_COMPLEX, "limit": "depth", "maximum": 3}


def test_depth_through_fragment_rejected():
    document = "{ farm { ...F } } fragment F on Farm { enclosures { farm { id } } }"
    errors = limit_errors(document, max_depth=3)
    assert [error.extensions["limit"] for error in errors] == ["depth"]
    assert "operation 'anonymous' is 4 fields deep" in errors[0].message


def test_depth_deepest_branch_counts():
    document = "{ farm { id } farms { enclosures { readings { value } } } }"
    assert measured(document, "depth") == 4


# Aliases


@pytest.mark.parametrize(
    ("document", "aliases"),
    [
        ("{ a: farm { id } }", 1),
        ("{ a: farm { x: id y: name } b: farms { id } }", 4),
        ("{ farm { ... on Farm { x: id } } }", 1),
        # A fragment spread twice counts twice.
        ("{ a: farm { ...F } b: farm { ...F } } fragment F on Farm { x: id y: name }", 6),
        # Nested fragments multiply: G is reached twice through F, which is spread twice.
        ("{ farm { ...F ...F } } fragment F on Farm { ...G ...G } fragment G on Farm { x: id }", 4),
        ("{ farm { id name } }", None),
    ],
)
def test_alias_counts(document, aliases):
    assert measured(document, "aliases") == aliases


def test_aliases_at_limit_pass():
    assert limit_errors("{ a: farm { id } b: farm { id } }", max_aliases=2) == []


def test_aliases_over_limit_rejected():
    errors = limit_errors("query Wide { a: farm { id } b: farm { id } c: farm { id } }", max_aliases=2)
    assert len(errors) == 1
    assert errors[0].message == "operation 'Wide' uses 3 aliases, more than the limit of 2"
    assert errors[0].extensions == {"code": QUERY_TOO_COMPLEX, "limit": "aliases", "maximum": 2}


def test_aliases_via_repeated_fragment_rejected():
    # Two aliases in the fragment, spread three times: 6 aliases, over a limit of 5.
    document = "{ farm { ...F ...F ...F } } fragment F on Farm { x: id y: name }"
    errors = limit_errors(document, max_aliases=5)
    assert [error.extensions["limit"] for error in errors] == ["aliases"]
    assert "uses 6 aliases" in errors[0].message


def test_both_limits_reported():
    errors = limit_errors("{ a: farm { b: enclosures { c: id } } }", max_depth=2, max_aliases=2)
    assert sorted(error.extensions["limit"] for error in errors) == ["aliases", "depth"]


def test_each_operation_checked():
    document = "query Small { farm { id } } query Big { a: farm { id } b: farm { id } }"
    errors = limit_errors(document, max_aliases=1)
    assert [error.message for error in errors] == ["operation 'Big' uses 2 aliases, more than the limit of 1"]


# Fragment cycles and unknown fragments


@pytest.mark.parametrize(
    "document",
    [
        "{ farm { ...A } } fragment A on Farm { id ...A }",
        "{ farm { ...A } } fragment A on Farm { x: id ...B } fragment B on Farm { y: name ...A }",
        "{ farm { ...A } } fragment A on Farm { enclosures { farm { ...A } } }",
    ],
)
def test_cycle_terminates(document):
    started = time.perf_counter()
    errors = limit_errors(document)
    assert errors == []
    assert time.perf_counter() - started < 1.0


def test_cycle_reported_by_graphql_rules():
    document = "{ farm { ...A } } fragment A on Farm { id ...B } fragment B on Farm { name ...A }"
    rules = [*specified_rules, depth_and_alias_rule(10, 10)]
    messages = [error.message for error in validate(SCHEMA, parse(document), rules)]
    assert "Cannot spread fragment 'A' within itself via 'B'." in messages


def test_cycle_counts_each_fragment_once_per_path():
    # The walk stops where A would enter itself again, so A's aliases count once.
    document = "{ farm { ...A } } fragment A on Farm { x: id y: name ...A }"
    assert measured(document, "aliases") == 2


def test_unknown_fragment_ignored():
    assert limit_errors("{ farm { ...Missing } }", max_depth=1, max_aliases=0) == []


def test_repeated_spreads_cost_linear_time():
    # 20 fragments in under 200 tokens; each spreads the next one twice.
    levels = 20
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ a: __typename }}")
    document = parse("{ ...F0 } " + " ".join(fragments))

    started = time.perf_counter()
    validate(SCHEMA, document, [depth_and_alias_rule(12, 50)])
    assert time.perf_counter() - started < 0.2


# Token counting


def test_tokens_counted():
    # {, farm, (, first, :, 1, ), {, id, }, }
    assert count_tokens("{ farm(first: 1) { id } }", 100) == 11


def test_tokens_skip_comments_and_commas():
    # {, farm, {, id, name, }, }
    assert count_tokens("# a comment\n{ farm { id, name } }", 100) == 7


def test_tokens_stop_after_limit():
    document = "{ " + "id " * 10_000 + "}"
    assert count_tokens(document, 50) == 51


def test_tokens_under_limit_exact():
    assert count_tokens("{ id }", 3) == 3


def test_tokens_lexing_error_raised():
    with pytest.raises(GraphQLSyntaxError) as caught:
        count_tokens('{ farm(name: "unterminated) }', 100)
    assert "Unterminated string" in caught.value.message
