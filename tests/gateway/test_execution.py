"""The fast-path executor gives exactly what graphql-core's own executor gives, errors included."""

from __future__ import annotations

import datetime as dt
import enum
import inspect
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import ExecutionResult, execute, parse

from gateway.execution import FastPathExecutor
from resolvers.permissions import requires_scopes


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
    fast = run(query, FastPathExecutor)
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
    fast = run(query, FastPathExecutor)
    assert formatted(fast) == formatted(run(query))
    assert fast.data == {"readings": [{"value": 7.9, "scaled": 79.0}, {"value": 11.5, "scaled": 115.0}]}


def test_null_in_non_null_field_reports_error():
    query = "{ broken { unit requiredNote } }"
    fast = run(query, FastPathExecutor)
    assert formatted(fast) == formatted(run(query))
    assert fast.data == {"broken": [None]}
    assert fast.errors is not None
    assert fast.errors[0].path == ["broken", 0, "requiredNote"]


def test_skip_directive_respected():
    query = "query($hide: Boolean!) { readings { unit note @skip(if: $hide) } }"
    fast = execute(SCHEMA, parse(query), variable_values={"hide": True}, executor_class=FastPathExecutor)
    assert isinstance(fast, ExecutionResult)
    assert fast.data == {"readings": [{"unit": "pH"}, {"unit": "degC"}]}


# Resolvers the executor calls directly: synchronous, without arguments, with scope checks only.


@dataclass
class Caller:
    scopes: frozenset[str]


@dataclass
class Context:
    principal: Caller | None


@strawberry.type
class Pen:
    id: strawberry.ID
    name: str

    @strawberry.field
    def reading_count(self, info: strawberry.Info) -> int | None:
        return len(info.context.principal.scopes) if self.id == "p1" else None

    @strawberry.field
    def readings(self) -> list[Reading]:
        return readings()

    @strawberry.field
    def optional_readings(self) -> list[Reading | None] | None:
        return [readings()[0], None]

    @strawberry.field(extensions=[requires_scopes("alerts:read")])
    def alert_total(self) -> int:
        return 3

    @strawberry.field
    def failing(self) -> int | None:
        raise ValueError("probe offline")

    @strawberry.field
    def missing(self) -> int:
        return None  # type: ignore[return-value]

    @strawberry.field
    def later(self) -> int | None:
        async def value() -> int:
            return 42

        return value()  # type: ignore[return-value]

    @strawberry.field
    def colour(self) -> Colour:
        return Colour.BLUE


@strawberry.type
class PenQuery:
    @strawberry.field
    def pens(self) -> list[Pen]:
        return [Pen(id=strawberry.ID("p1"), name="North"), Pen(id=strawberry.ID("p2"), name="South")]


    @strawberry.field
    def maybe_pens(self) -> list[Pen | None]:
        return [Pen(id=strawberry.ID("p1"), name="North"), None]


PEN_SCHEMA = strawberry.Schema(PenQuery)._schema


async def both(query: str, scopes: frozenset[str]) -> tuple[ExecutionResult, ExecutionResult]:
    """Run `query` with the fast executor and with graphql-core's, each with a fresh context."""
    results = []
    for executor_class in (FastPathExecutor, None):
        outcome = execute(
            PEN_SCHEMA, parse(query), context_value=Context(Caller(scopes)), executor_class=executor_class
        )
        results.append(await outcome if inspect.isawaitable(outcome) else outcome)
    fast, default = results
    assert isinstance(fast, ExecutionResult)
    assert isinstance(default, ExecutionResult)
    return fast, default


async def test_direct_resolvers_match_default_executor():
    query = "{ pens { id name readingCount colour alertTotal readings { metric value } optionalReadings { unit } } }"
    fast, default = await both(query, frozenset({"alerts:read"}))
    assert fast.formatted == default.formatted
    assert fast.errors is None
    assert fast.data is not None
    assert fast.data["pens"][0] == {
        "id": "p1",
        "name": "North",
        "readingCount": 1,
        "colour": "BLUE",
        "alertTotal": 3,
        "readings": [{"metric": "RED", "value": 7.9}, {"metric": "BLUE", "value": 11.5}],
        "optionalReadings": [{"unit": "pH"}, None],
    }
    assert fast.data["pens"][1]["readingCount"] is None
    # The equality above only means something if the direct path ran: check how Pen was planned.
    pen_plans = [plan for (object_type, *_), plan in FastPathExecutor._plans.items() if object_type.name == "Pen"]
    assert pen_plans and pen_plans[-1] is not None
    assert {direct.name for direct in pen_plans[-1].direct} == {
        "readingCount", "colour", "alertTotal", "readings", "optionalReadings"
    }


async def test_missing_scope_is_forbidden():
    fast, default = await both("{ pens { name alertTotal } }", frozenset())
    assert fast.formatted == default.formatted
    # alertTotal, its pen and the list of pens are all non-null, so the null reaches the root.
    assert fast.data is None
    assert fast.errors is not None
    assert [error.path for error in fast.errors] == [["pens", 0, "alertTotal"]]
    assert fast.errors[0].extensions is not None
    assert fast.errors[0].extensions["code"] == "FORBIDDEN"
    assert "alerts:read" in fast.errors[0].message


async def test_resolver_errors_match_default():
    fast, default = await both("{ pens { id failing later } }", frozenset())
    assert fast.formatted == default.formatted
    assert fast.data == {
        "pens": [{"id": "p1", "failing": None, "later": 42}, {"id": "p2", "failing": None, "later": 42}]
    }
    assert fast.errors is not None
    assert [error.message for error in fast.errors] == ["probe offline", "probe offline"]

    fast, default = await both("{ pens { id missing } }", frozenset())
    assert fast.formatted == default.formatted
    assert fast.data is None
    assert fast.errors is not None
    assert fast.errors[0].path == ["pens", 0, "missing"]


async def test_nullable_item_error_nulls_item():
    fast, default = await both("{ maybePens { id later missing } }", frozenset())
    assert fast.formatted == default.formatted
    assert fast.data == {"maybePens": [None, None]}
    assert fast.errors is not None
    assert [error.path for error in fast.errors] == [["maybePens", 0, "missing"]]

    fast, default = await both("{ maybePens { name later } }", frozenset())
    assert fast.formatted == default.formatted
    assert fast.data == {"maybePens": [{"name": "North", "later": 42}, None]}
