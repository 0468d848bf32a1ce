"""A graphql-core executor with a fast path for objects whose selected fields are all plain leaves.

A dashboard query spends most of its time completing leaf fields (a reading's metric, value,
unit and time), and graphql-core pays for a path, a resolve-info object, a resolver call and
two awaitable checks on each. When every field selected on an object reads an attribute through
Strawberry's default resolver and returns a scalar or enum, this executor reads and serializes
them directly. The result is the same. On any surprise (a null in a non-null field, a value the
scalar rejects, an exception) the object goes back to graphql-core's own path, which re-reads the
attributes and reports the error exactly as it would have.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLLeafType, GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.execution.executor import Executor
from graphql.pyutils import Path, Undefined

_TYPENAME = "__typename"

# (attribute name, leaf type, whether null is an error); attribute None means __typename.
LeafField = tuple[str | None, GraphQLLeafType | None, bool]


class LeafFastPathExecutor(Executor[Any]):
    """graphql-core's executor, with plain-leaf objects completed without per-field machinery."""

    # Plans per (object type, selected fields). The key holds the type object itself, so two schemas
    # with a type of the same name never share a plan. A schema never changes, so plans never go stale.
    _plans: dict[tuple[GraphQLObjectType, tuple[tuple[str, str, bool], ...]], list[tuple[str, LeafField]] | None] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not None:
            result = _complete_leaves(plan, parent_type, source_value)
            if result is not None:
                return result
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[tuple[str, LeafField]] | None:
        signature = []
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            plain = len(details) == 1 and details[0].defer_usage is None and not node.arguments
            signature.append((response_name, node.name.value, plain))
        key = (parent_type, tuple(signature))
        if key in self._plans:
            return self._plans[key]
        plan = _build_plan(parent_type, signature)
        if len(self._plans) < 10_000:
            self._plans[key] = plan
        return plan


def _build_plan(
    parent_type: GraphQLObjectType, signature: list[tuple[str, str, bool]]
) -> list[tuple[str, LeafField]] | None:
    plan: list[tuple[str, LeafField]] = []
    for response_name, field_name, plain in signature:
        if not plain:
            return None
        if field_name == _TYPENAME:
            plan.append((response_name, (None, None, True)))
            continue
        field = parent_type.fields.get(field_name)
        if field is None or not getattr(field.resolve, "_is_default", False):
            return None
        definition = (field.extensions or {}).get("strawberry-definition")
        attribute = getattr(definition, "python_name", None)
        return_type = field.type
        non_null = isinstance(return_type, GraphQLNonNull)
        leaf = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if attribute is None or not is_leaf_type(leaf):
            return None
        plan.append((response_name, (attribute, leaf, non_null)))
    return plan


def _complete_leaves(
    plan: list[tuple[str, LeafField]], parent_type: GraphQLObjectType, source: Any
) -> dict[str, Any] | None:
    """Return the completed fields, or None to let graphql-core complete the object instead."""
    result: dict[str, Any] = {}
    try:
        for response_name, (attribute, leaf, non_null) in plan:
            if attribute is None:
                result[response_name] = parent_type.name
                continue
            value = getattr(source, attribute)
            if value is None:
                if non_null:
                    return None
                result[response_name] = None
                continue
            assert leaf is not None
            coerced = leaf.coerce_output_value(value)
            if coerced is None or coerced is Undefined:
                return None
            result[response_name] = coerced
    except Exception:
        return None
    return result
