"""The leaf fast path gives exactly what graphql-core's own executor gives."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import strawberry
from graphql import ExecutionResult, execute, parse

from gateway.execution import LeafFastPathExecutor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Reading:
    metric: Colour
    value: float
    unit: str
    time: dt.datetime
    note: str | None = None
    required_note: str = "x"

    @strawberry.field
    def scaled(self, factor: float = 2.0) -> float:
        return self.value * factor


def readings() -> list[Reading]:
    moment = dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.UTC)
    return [
        Reading(metric=Colour.RED, value=7.9, unit="pH", time=moment),
        Reading(metric=Colour.BLUE, value=11.5, unit="degC", time=moment, note="probe cleaned"),
    ]


@strawberry.type
class Query:
    @strawberry.field
    def readings(self) -> list[Reading]:
        return readings()

    @strawberry.field
    def broken(self) -> list[Reading | None]:
        bad = readings()[0]
        bad.required_note = None  # type: ignore[assignment]
        return [bad]


SCHEMA = strawberry.Schema(Query)._schema


def run(query: str, executor_class: Any = None) -> ExecutionResult:
    result = execute(SCHEMA, parse(query), executor_class=executor_class)
    assert isinstance(result, ExecutionResult)
    return result


def formatted(result: ExecutionResult) -> dict[str, Any]:
    return result.formatted


def test_leaves_match_default_executor():
    query = "{ readings { __typename metric value unit time note first: unit } }"
    fast = run(query, LeafFastPathExecutor)
    assert formatted(fast) == formatted(run(query))
    assert fast.data == {
        "readings": [
            {
                "__typename": "Reading",
                "metric": "RED",
                "value": 7.9,
                "unit": "pH",
                "time": "2026-12-04T06:00:00+00:00",
                "note": None,
                "first": "pH",
            },
            {
                "__typename": "Reading",
                "metric": "BLUE",
                "value": 11.5,
                "unit": "degC",
                "time": "2026-12-04T06:00:00+00:00",
                "note": "probe cleaned",
                "first": "degC",
            },
        ]
    }


def test_field_with_arguments_takes_normal_path():
    query = "{ readings { value scaled(factor: 10) } }"
    fast = run(query, LeafFastPathExecutor)
    assert formatted(fast) == formatted(run(query))
    assert fast.data == {"readings": [{"value": 7.9, "scaled": 79.0}, {"value": 11.5, "scaled": 115.0}]}


def test_null_in_non_null_field_reports_error():
    query = "{ broken { unit requiredNote } }"
    fast = run(query, LeafFastPathExecutor)
    assert formatted(fast) == formatted(run(query))
    assert fast.data == {"broken": [None]}
    assert fast.errors is not None
    assert fast.errors[0].path == ["broken", 0, "requiredNote"]


def test_skip_directive_respected():
    query = "query($hide: Boolean!) { readings { unit note @skip(if: $hide) } }"
    fast = execute(SCHEMA, parse(query), variable_values={"hide": True}, executor_class=LeafFastPathExecutor)
    assert isinstance(fast, ExecutionResult)
    assert fast.data == {"readings": [{"unit": "pH"}, {"unit": "degC"}]}
