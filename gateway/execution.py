"""A graphql-core executor that completes the common shapes of a dashboard query without per-field machinery.

A farm overview selects a few thousand fields, and graphql-core pays for each one with a path, a
resolve-info object, a resolver call through Strawberry's wrapper chain and several awaitable
checks. This executor plans each (object type, selected fields) pair once and then executes
three kinds of field itself:

- plain leaves: a field read through Strawberry's default resolver that returns a scalar or an
  enum is read and serialized directly;
- direct fields: a synchronous Strawberry resolver without GraphQL arguments, whose only field
  extensions are scope checks, is called directly. The scope check runs once per request and
  field scopes, since the principal does not change within a request. A leaf result, or a list
  of objects whose selected fields are all plain leaves, is completed here; any other result
  goes to graphql-core's completion;
- everything else (resolvers with arguments, async resolvers, other extensions) goes through
  graphql-core's `execute_fields` unchanged.

The result, including errors, their paths and null propagation, is the same as graphql-core's.
On any surprise (a null in a non-null field, a value a scalar rejects, an item of an unexpected
shape) the value goes back to graphql-core's own completion, which reports the error exactly as
it would have. The fast paths apply only when no graphql-core middleware wraps resolvers and the
Strawberry schema has no exception handlers, since both would be bypassed.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    is_enum_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import Executor
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel

from resolvers.permissions import ScopeExtension, check_scopes, principal_of

_TYPENAME = "__typename"
# Directives that collect_fields has already applied. Any other one (such as @stream) changes how a
# field completes, so such a field is left to graphql-core.
_CONDITIONAL = frozenset({"skip", "include"})
# Plans cached per (object type, selected fields). A schema never changes, so they never go stale.
MAX_PLANS = 10_000


class _Slow:
    """Marker for a value the fast path declined, which graphql-core then completes."""


SLOW = _Slow()


@dataclass(frozen=True, slots=True)
class LeafPlan:
    """A field read through the default resolver that returns a scalar or an enum."""

    name: str
    attribute: str | None  # None for __typename
    leaf: GraphQLLeafType | None
    non_null: bool
    # The Python type whose values the leaf type serializes unchanged (str for String and ID,
    # bool for Boolean, float for Float when finite), or None.
    passthrough: type | None = None
    # Serialized names of an enum's members, filled as members are seen (None for scalars).
    enum_names: dict[Any, Any] | None = None


@dataclass(frozen=True, slots=True)
class DirectPlan:
    """A synchronous Strawberry resolver without arguments, called without Strawberry's wrapper chain."""

    name: str
    field_name: str
    field_def: Any
    strawberry_field: Any
    function: Any
    info_class: Any
    pass_self: bool
    source_keywords: tuple[str, ...]
    info_keyword: str | None
    scopes: tuple[str, ...]
    return_type: GraphQLOutputType
    # For a leaf result: how to serialize it. For a list of objects: the object type, and the item
    # type as declared (non-null or not), against which item errors are handled.
    leaf: LeafPlan | None
    item_type: GraphQLObjectType | None
    declared_item_type: GraphQLOutputType | None


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """How to execute the fields selected on one object type."""

    leaves: tuple[LeafPlan, ...]
    direct: tuple[DirectPlan, ...]
    generic: tuple[str, ...]  # response names left to graphql-core
    order: tuple[str, ...]

    @property
    def only_leaves(self) -> bool:
        return not self.direct and not self.generic


class FastPathExecutor(Executor[Any]):
    """graphql-core's executor, with plain leaves and simple resolvers executed without its per-field machinery."""

    # Shared by every execution. The key includes whether resolvers may be called directly, since that
    # depends on the execution's middleware as well as on the schema.
    _plans: dict[tuple[GraphQLObjectType, tuple[tuple[str, str, bool], ...], bool], ObjectPlan | None] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Scope tuples the request's principal was found to carry.
        self._granted_scopes: set[tuple[str, ...]] = set()
        # Plans by the identity of a grouped field set, which graphql-core reuses for every item of
        # a list. The set is kept with its plan so that its id cannot be reused meanwhile.
        self._plan_of_group: dict[tuple[GraphQLObjectType, int], tuple[GroupedFieldSet, ObjectPlan | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        if plan.only_leaves:
            completed = _complete_leaves(plan.leaves, parent_type, source_value)
            if completed is not None:
                return completed
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        return self._execute_planned(plan, parent_type, source_value, path, grouped_field_set, position_context)

    # Planning

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> ObjectPlan | None:
        seen = self._plan_of_group.get((parent_type, id(grouped_field_set)))
        if seen is not None and seen[0] is grouped_field_set:
            return seen[1]
        plan = self._shared_plan(parent_type, grouped_field_set)
        self._plan_of_group[(parent_type, id(grouped_field_set))] = (grouped_field_set, plan)
        return plan

    def _shared_plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> ObjectPlan | None:
        signature = []
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            plain = (
                len(details) == 1
                and details[0].defer_usage is None
                and not node.arguments
                and all(directive.name.value in _CONDITIONAL for directive in node.directives or ())
            )
            signature.append((response_name, node.name.value, plain))
        may_call_directly = self._may_call_directly()
        key = (parent_type, tuple(signature), may_call_directly)
        try:
            return self._plans[key]
        except KeyError:
            pass
        plan = self._build_plan(parent_type, signature, may_call_directly)
        if len(self._plans) < MAX_PLANS:
            self._plans[key] = plan
        return plan

    def _may_call_directly(self) -> bool:
        """Return whether resolvers may bypass Strawberry without skipping a middleware or exception handler."""
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        return (
            self.middleware_manager is None
            and strawberry_schema is not None
            and not getattr(strawberry_schema, "exception_handlers", ())
        )

    def _build_plan(
        self, parent_type: GraphQLObjectType, signature: list[tuple[str, str, bool]], may_call_directly: bool
    ) -> ObjectPlan | None:
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        leaves: list[LeafPlan] = []
        direct: list[DirectPlan] = []
        generic: list[str] = []
        for response_name, field_name, plain in signature:
            field = parent_type.fields.get(field_name)
            if field_name == _TYPENAME and plain:
                leaves.append(LeafPlan(response_name, None, None, True))
                continue
            if not plain or field is None:
                generic.append(response_name)
                continue
            leaf_plan = _leaf_plan(response_name, field)
            if leaf_plan is not None:
                leaves.append(leaf_plan)
                continue
            direct_plan = None
            if may_call_directly:
                direct_plan = _direct_plan(response_name, field_name, field, strawberry_schema)
            if direct_plan is not None:
                direct.append(direct_plan)
            else:
                generic.append(response_name)
        if not leaves and not direct:
            return None
        order = tuple(response_name for response_name, _, _ in signature)
        return ObjectPlan(tuple(leaves), tuple(direct), tuple(generic), order)

    # Execution

    def _execute_planned(
        self,
        plan: ObjectPlan,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        values: dict[str, Any] = {}
        pending: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for leaf in plan.leaves:
                value = _read_leaf(leaf, parent_type, source)
                if value is SLOW:
                    value = self.execute_field(
                        parent_type,
                        source,
                        grouped_field_set[leaf.name],
                        Path(path, leaf.name, parent_type.name),
                        position_context,
                    )
                    if value is Undefined:
                        continue
                    if is_awaitable(value):
                        pending.append(leaf.name)
                values[leaf.name] = value
            for direct in plan.direct:
                value = self._execute_direct(direct, parent_type, source, grouped_field_set[direct.name], path)
                if is_awaitable(value):
                    pending.append(direct.name)
                values[direct.name] = value
            others: Any = {}
            if plan.generic:
                rest = {name: grouped_field_set[name] for name in plan.generic}
                others = super().execute_fields(parent_type, source, path, rest, position_context)
        except Exception:
            if pending:
                self.settle_in_background([values[name] for name in pending])
            raise
        if not pending and not is_awaitable(others):
            return _ordered(plan.order, values, others)
        return self._finish(plan.order, values, pending, others)

    async def _finish(self, order: tuple[str, ...], values: dict[str, Any], pending: list[str], others: Any) -> Any:
        awaitables: list[Awaitable[Any]] = [values[name] for name in pending]
        others_pending = self.is_awaitable(others)
        if others_pending:
            awaitables.append(others)
        if len(awaitables) == 1:
            done = [await awaitables[0]]
        else:
            done = await gather_with_cancel(*awaitables)
        if others_pending:
            others = done.pop()
        values.update(zip(pending, done, strict=True))
        return _ordered(order, values, others)

    def _execute_direct(
        self,
        plan: DirectPlan,
        parent_type: GraphQLObjectType,
        source: Any,
        details: FieldDetailsList,
        path: Path | None,
    ) -> Any:
        field_path = Path(path, plan.name, parent_type.name)
        info = self.build_resolve_info(plan.field_def, [item.node for item in details], parent_type, field_path)
        try:
            strawberry_info = plan.info_class(_raw_info=info, _field=plan.strawberry_field)
            if plan.scopes and plan.scopes not in self._granted_scopes:
                check_scopes(principal_of(strawberry_info), plan.scopes, plan.field_name)
                self._granted_scopes.add(plan.scopes)
            args = (source,) if plan.pass_self else ()
            kwargs = dict.fromkeys(plan.source_keywords, source)
            if plan.info_keyword is not None:
                kwargs[plan.info_keyword] = strawberry_info
            result = plan.function(*args, **kwargs)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(plan.return_type, details, info, field_path, result, None)
            completed = self._complete_direct(plan, details, field_path, result)
            if completed is SLOW:
                completed = self.complete_value(plan.return_type, details, info, field_path, result, None)
            if self.is_awaitable(completed):
                return self._await_completed(completed, plan.return_type, details, field_path)
            return completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, plan.return_type, details, field_path)
            return None

    async def _await_completed(
        self, completed: Awaitable[Any], return_type: GraphQLOutputType, details: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None

    def _complete_direct(self, plan: DirectPlan, details: FieldDetailsList, path: Path, result: Any) -> Any:
        if result is None:
            return SLOW if isinstance(plan.return_type, GraphQLNonNull) else None
        if plan.leaf is not None:
            coerced = _coerce(plan.leaf, result)
            return SLOW if coerced is None or coerced is Undefined else coerced
        item_type = plan.item_type
        if item_type is None or not isinstance(result, list | tuple) or item_type.is_type_of is not None:
            return SLOW
        grouped, _defer_usages, _forbidden = self.collect_subfields(item_type, details)
        item_plan = self._plan(item_type, grouped)
        if item_plan is None:
            return SLOW
        if not item_plan.only_leaves:
            assert plan.declared_item_type is not None
            return self._complete_object_items(item_type, plan.declared_item_type, grouped, details, path, result)
        completed: list[dict[str, Any] | None] = []
        for item in result:
            if item is None:
                if isinstance(plan.declared_item_type, GraphQLNonNull):
                    return SLOW
                completed.append(None)
                continue
            fields = _complete_leaves(item_plan.leaves, item_type, item)
            if fields is None:
                return SLOW
            completed.append(fields)
        return completed

    def _complete_object_items(
        self,
        item_type: GraphQLObjectType,
        declared_item_type: GraphQLOutputType,
        grouped: GroupedFieldSet,
        details: FieldDetailsList,
        path: Path,
        items: list[Any] | tuple[Any, ...],
    ) -> Any:
        """Complete a list of objects item by item, as graphql-core's list completion would.

        A null item in a list of non-null items is found before anything runs, so that graphql-core
        can take over without any resolver having been called twice.
        """
        # Errors are handled against the declared item type, so a non-null item's error propagates.
        if isinstance(declared_item_type, GraphQLNonNull) and any(item is None for item in items):
            return SLOW
        completed: list[Any] = []
        pending: list[int] = []
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed.append(None)
                    continue
                item_path = path.add_key(index, None)
                try:
                    value = self.execute_fields(item_type, item, item_path, grouped, None)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, declared_item_type, details, item_path)
                    value = None
                if self.is_awaitable(value):
                    value = self._await_completed(value, declared_item_type, details, item_path)
                    pending.append(index)
                completed.append(value)
        except Exception:
            if pending:
                self.settle_in_background([completed[index] for index in pending])
            raise
        if not pending:
            return completed
        return self._finish_items(completed, pending)

    async def _finish_items(self, completed: list[Any], pending: list[int]) -> list[Any]:
        if len(pending) == 1:
            completed[pending[0]] = await completed[pending[0]]
            return completed
        done = await gather_with_cancel(*(completed[index] for index in pending))
        for index, value in zip(pending, done, strict=True):
            completed[index] = value
        return completed


def _leaf_plan(response_name: str, field: Any) -> LeafPlan | None:
    if not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get("strawberry-definition")
    attribute = getattr(definition, "python_name", None)
    return_type = field.type
    non_null = isinstance(return_type, GraphQLNonNull)
    leaf = return_type.of_type if non_null else return_type
    if attribute is None or not is_leaf_type(leaf):
        return None
    return _serializer(response_name, attribute, leaf, non_null)


def _serializer(response_name: str, attribute: str | None, leaf: GraphQLLeafType, non_null: bool) -> LeafPlan:
    enum_names: dict[Any, Any] | None = {} if is_enum_type(leaf) else None
    return LeafPlan(response_name, attribute, leaf, non_null, _PASSTHROUGH.get(leaf), enum_names)


# Built-in scalars whose output coercion returns a value of this exact type unchanged.
_PASSTHROUGH: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool, GraphQLFloat: float}
# GraphQL's Int is a signed 32-bit integer.
MIN_INT, MAX_INT = -(2**31), 2**31 - 1
# Only enum members are stored, so a plan contains at most its enum's members. The bound is a second guard.
MAX_ENUM_NAMES = 1_000


def _coerce(plan: LeafPlan, value: Any) -> Any:
    """Serialize a non-null leaf value as the leaf type would, or return None or Undefined when the type rejects it."""
    kind = type(value)
    if kind is plan.passthrough and (kind is not float or value - value == 0.0):
        return value
    if kind is int and plan.leaf is GraphQLInt and MIN_INT <= value <= MAX_INT:
        return value
    names = plan.enum_names
    if names is not None:
        try:
            return names[value]
        except (KeyError, TypeError):
            pass
        assert plan.leaf is not None
        coerced = plan.leaf.coerce_output_value(value)
        if isinstance(value, enum.Enum) and len(names) < MAX_ENUM_NAMES:
            names[value] = coerced
        return coerced
    assert plan.leaf is not None
    return plan.leaf.coerce_output_value(value)


def _direct_plan(response_name: str, field_name: str, field: Any, strawberry_schema: Any) -> DirectPlan | None:
    strawberry_field = (field.extensions or {}).get("strawberry-definition")
    resolver = getattr(strawberry_field, "base_resolver", None)
    if strawberry_field is None or resolver is None or field.args:
        return None
    if strawberry_field.is_async or strawberry_field.arguments:
        return None
    extensions = list(strawberry_field.extensions)
    if any(type(extension) is not ScopeExtension for extension in extensions):
        return None
    scopes: tuple[str, ...] = tuple(dict.fromkeys(scope for extension in extensions for scope in extension.scopes))
    source_keywords = tuple(
        parameter.name
        for parameter in (resolver.root_parameter, resolver.parent_parameter)
        if parameter is not None
    )
    info_parameter = resolver.info_parameter

    return_type = field.type
    unwrapped = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    leaf: LeafPlan | None = None
    item_type: GraphQLObjectType | None = None
    declared_item_type: GraphQLOutputType | None = None
    if is_leaf_type(unwrapped):
        leaf = _serializer(response_name, None, unwrapped, unwrapped is not return_type)
    elif isinstance(unwrapped, GraphQLList):
        declared = unwrapped.of_type
        item = declared.of_type if isinstance(declared, GraphQLNonNull) else declared
        if isinstance(item, GraphQLObjectType):
            item_type = item
            declared_item_type = declared
    return DirectPlan(
        name=response_name,
        field_name=field_name,
        field_def=field,
        strawberry_field=strawberry_field,
        function=resolver.wrapped_func,
        info_class=strawberry_schema.config.info_class,
        pass_self=resolver.self_parameter is not None,
        source_keywords=source_keywords,
        info_keyword=info_parameter.name if info_parameter is not None else None,
        scopes=scopes,
        return_type=return_type,
        leaf=leaf,
        item_type=item_type,
        declared_item_type=declared_item_type,
    )


def _read_leaf(plan: LeafPlan, parent_type: GraphQLObjectType, source: Any) -> Any:
    """Return the serialized value of one plain leaf, or SLOW to let graphql-core complete it."""
    if plan.attribute is None:
        return parent_type.name
    try:
        value = getattr(source, plan.attribute)
        if value is None:
            return SLOW if plan.non_null else None
        coerced = _coerce(plan, value)
    except Exception:
        return SLOW
    return SLOW if coerced is None or coerced is Undefined else coerced


def _complete_leaves(
    leaves: tuple[LeafPlan, ...], parent_type: GraphQLObjectType, source: Any
) -> dict[str, Any] | None:
    """Return the completed fields, or None to let graphql-core complete the object instead."""
    result: dict[str, Any] = {}
    try:
        for plan in leaves:
            if plan.attribute is None:
                result[plan.name] = parent_type.name
                continue
            value = getattr(source, plan.attribute)
            if value is None:
                if plan.non_null:
                    return None
                result[plan.name] = None
                continue
            kind = type(value)
            if kind is plan.passthrough and (kind is not float or value - value == 0.0):
                result[plan.name] = value
                continue
            coerced = _coerce(plan, value)
            if coerced is None or coerced is Undefined:
                return None
            result[plan.name] = coerced
    except Exception:
        return None
    return result


def _ordered(order: tuple[str, ...], values: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    """Merge both halves of an object's fields in selection order; fields absent from both are skipped."""
    merged: dict[str, Any] = {}
    for name in order:
        if name in values:
            merged[name] = values[name]
        elif name in others:
            merged[name] = others[name]
    return merged

