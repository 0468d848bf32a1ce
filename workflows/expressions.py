"""The expression language of step inputs: JMESPath inside `${...}`, never Python `eval`.

A string that is exactly one `${expr}` evaluates to the expression's value with its JSON type
(a list stays a list). A string with `${...}` among other text interpolates each value as text.
Any other value is a literal; dicts and lists are walked recursively. Expressions see a scope
of `input` (the run's input), `steps` (`steps.<id>.output` of finished steps), `run` (`id`,
`template`), `event` (the triggering CloudEvent, where there is one) and, inside `for_each`,
`item` and `index`. One function is added to JMESPath's set: `zip(a, b)` pairs two lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.functions

from common.errors import WorkflowExpressionError

# `steps.<id>` and `steps."<id>"` references, checked against a step's dependencies at load time.
_STEP_REFERENCE = re.compile(r"\bsteps\s*\.\s*(?:\"([^\"]+)\"|([A-Za-z_][A-Za-z0-9_]*))")
SCOPE_ROOTS = frozenset({"input", "steps", "run", "event", "item", "index"})


class _Functions(jmespath.functions.Functions):
    @jmespath.functions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_zip(self, left: list[Any], right: list[Any]) -> list[list[Any]]:
        return [[a, b] for a, b in zip(left, right, strict=False)]


_OPTIONS = jmespath.Options(custom_functions=_Functions())
_COMPILED: dict[str, Any] = {}
# Stands for the text after a `${` without its closing brace; no JMESPath expression looks like it.
UNCLOSED = "\x00unclosed"


@dataclass(frozen=True)
class ExpressionProblem:
    """One invalid expression found while checking a value, with the field it sits in."""

    field: str
    expression: str
    message: str


def _placeholders(text: str) -> list[tuple[int, int, str]]:
    """Find each `${...}` as (start, end, expression); braces inside quotes or backtick literals do not count.

    An unclosed `${` yields the expression UNCLOSED, which `check` reports and `evaluate` rejects.
    """
    found = []
    start = text.find("${")
    while start != -1:
        depth = 1
        position = start + 2
        quote: str | None = None
        while position < len(text) and depth:
            char = text[position]
            if quote is not None:
                if char == "\\":
                    position += 1
                elif char == quote:
                    quote = None
            elif char in "'\"`":
                quote = char
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
            position += 1
        end = position if depth == 0 else len(text)
        found.append((start, end, text[start + 2 : end - 1].strip() if depth == 0 else UNCLOSED))
        start = text.find("${", end)
    return found


def _whole(text: str) -> str | None:
    """Return the expression when `text` is exactly one `${...}` (surrounding spaces allowed)."""
    stripped = text.strip()
    spans = _placeholders(stripped)
    if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(stripped) and stripped.endswith("}"):
        return spans[0][2]
    return None


def _compile(expression: str) -> Any:
    compiled = _COMPILED.get(expression)
    if compiled is None:
        compiled = _COMPILED[expression] = jmespath.compile(expression)
    return compiled


def _expressions(value: Any, field: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        for _, _, expression in _placeholders(value):
            yield field, expression
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _expressions(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _expressions(item, f"{field}[{index}]")


def check(value: Any, field: str) -> list[ExpressionProblem]:
    """Compile every `${...}` inside `value`; return one problem per expression that does not parse."""
    problems = []
    for where, expression in _expressions(value, field):
        if not expression:
            problems.append(ExpressionProblem(where, expression, "empty expression inside ${}"))
            continue
        if expression == UNCLOSED:
            problems.append(ExpressionProblem(where, "${", "'${' has no closing '}'"))
            continue
        try:
            _compile(expression)
        except jmespath.exceptions.JMESPathError as exc:
            problems.append(ExpressionProblem(where, expression, f"invalid JMESPath: {exc}".replace("\n", " ")))
    return problems


def referenced_steps(value: Any) -> set[str]:
    """Name the step ids that the expressions inside `value` read through `steps.<id>`."""
    found: set[str] = set()
    for _, expression in _expressions(value, ""):
        for quoted, bare in _STEP_REFERENCE.findall(expression):
            found.add(quoted or bare)
    return found


def has_expression(value: Any) -> bool:
    return any(True for _ in _expressions(value, ""))


def unwrap(expression: str) -> str:
    """Accept a bare JMESPath expression or one written as `${...}`; return the bare form."""
    whole = _whole(expression)
    return whole if whole is not None else expression.strip()


def evaluate(expression: str, scope: dict[str, Any], field: str = "") -> Any:
    """Evaluate one JMESPath expression against `scope`; raise WorkflowExpressionError on failure."""
    if expression == UNCLOSED:
        raise WorkflowExpressionError(f"an expression in {field or 'a step'} has '${{' without a closing '}}'",
                                      field=field or None)
    try:
        return _compile(expression).search(scope, options=_OPTIONS)
    except jmespath.exceptions.JMESPathError as exc:
        raise WorkflowExpressionError(
            f"expression '{expression}' in {field or 'a step'} failed: {exc}".replace("\n", " "),
            field=field or None,
        ) from exc


def render(value: Any, scope: dict[str, Any], field: str = "") -> Any:
    """Resolve every `${...}` inside `value` against `scope` and return the resolved copy."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        whole = _whole(value)
        if whole is not None:
            return evaluate(whole, scope, field)
        parts = []
        position = 0
        for start, end, expression in _placeholders(value):
            result = evaluate(expression, scope, field)
            parts.append(value[position:start])
            parts.append("" if result is None else _text(result))
            position = end
        parts.append(value[position:])
        return "".join(parts)
    if isinstance(value, dict):
        return {key: render(item, scope, f"{field}.{key}" if field else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope, f"{field}[{index}]") for index, item in enumerate(value)]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list | bool) else str(value)


def truthy(value: Any) -> bool:
    """Apply JMESPath's truth rules: false, null, empty string, list and object are false."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
