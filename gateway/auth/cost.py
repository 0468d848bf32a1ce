"""The cost of one GraphQL operation, computed before it runs: how many objects it may return.

Each field that returns an object or a list of objects adds the number of objects it may return,
times the number of parents it resolves on. A field with a `first` argument may return `first`
items: a literal or a variable, else the argument's default. The `edges` and `nodes` lists of a
connection do not multiply again, because `first` counted their items. Other lists count `list_size`
items. Scalar fields cost nothing. Fragment spreads are counted at every use; a fragment cycle
stops the walk (validation reports the cycle itself).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        list_size: int,
        ceiling: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.list_size = list_size
        self.ceiling = ceiling

    def _multiplier(self, parent: GraphQLNamedType, field: GraphQLField, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value == "first":
                value = argument.value
                if isinstance(value, IntValueNode):
                    return max(1, int(value.value))
                if isinstance(value, VariableNode):
                    given = self.variables.get(value.name.value)
                    if isinstance(given, int):
                        return max(1, given)
        first = field.args.get("first")
        if first is not None and isinstance(first.default_value, int):
            return max(1, first.default_value)
        if is_list_type(get_nullable_type(field.type)) and not parent.name.endswith("Connection"):
            return self.list_size
        return 1

    def cost(
        self, parent: GraphQLNamedType | None, selection_set: SelectionSetNode | None, seen: frozenset[str]
    ) -> int:
        """Count the objects selected under one parent object."""
        if selection_set is None or parent is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields = getattr(parent, "fields", {})
                field = fields.get(selection.name.value)
                if field is None or selection.selection_set is None:
                    continue  # scalars, enums, __typename and introspection leaves
                count = self._multiplier(parent, field, selection)
                total += count + count * self.cost(get_named_type(field.type), selection.selection_set, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition is not None else parent
                total += self.cost(target, selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                fragment_name = selection.name.value
                fragment = self.fragments.get(fragment_name)
                if fragment is None or fragment_name in seen:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.cost(target, fragment.selection_set, seen | {fragment_name})
            if total > self.ceiling:
                # Past the limit the exact figure no longer matters; stop walking huge documents.
                return total
        return total


def operation_cost(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
    list_size: int,
    ceiling: int,
) -> int:
    """Compute the cost of `operation`; stops counting soon after it passes `ceiling`."""
    root = schema.get_root_type(operation.operation)
    walker = _CostWalker(schema, fragments, variables or {}, list_size, ceiling)
    return walker.cost(root, operation.selection_set, frozenset())
