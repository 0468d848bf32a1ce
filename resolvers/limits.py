"""Validation rules that bound how much work one GraphQL document can ask for.

Depth and alias counts follow fragment spreads, so a fragment used twice counts twice; a
fragment cycle stops the walk (graphql-core's NoFragmentCyclesRule reports the cycle itself).
Errors carry `extensions.code = "QUERY_TOO_COMPLEX"` and the limit, so a client can tell them
apart from ordinary validation errors without reading the message.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)
from graphql.language import Lexer, Source, TokenKind

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def count_tokens(query: str, limit: int) -> int:
    """Count lexical tokens up to `limit + 1`; stop early so a huge document costs little.

    Raises graphql's GraphQLSyntaxError on a lexing error; the caller reports it as a parse error.
    """
    lexer = Lexer(Source(query))
    count = 0
    while count <= limit:
        token = lexer.advance()
        if token.kind is TokenKind.EOF:
            break
        count += 1
    return count


class _Walker:
    """Walks an operation's selections through fragment spreads.

    Each fragment's depth and alias count is computed once and reused, so a fragment spread many
    times (or fragments that spread each other in a chain) cost linear time, not exponential.
    A spread that closes a cycle contributes nothing.
    """

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self._depths: dict[str, int] = {}
        self._aliases: dict[str, int] = {}

    def depth(self, selection_set: SelectionSetNode | None, stack: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    # Introspection meta fields: graphql-core's own introspection depth rule bounds them.
                    continue
                deepest = max(deepest, 1 + self.depth(selection.selection_set, stack))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set, stack))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment_depth(selection.name.value, stack))
        return deepest

    def _fragment_depth(self, name: str, stack: frozenset[str]) -> int:
        if name in self._depths:
            return self._depths[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in stack:
            return 0
        self._depths[name] = self.depth(fragment.selection_set, stack | {name})
        return self._depths[name]

    def aliases(self, selection_set: SelectionSetNode | None, stack: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += (1 if selection.alias is not None else 0) + self.aliases(selection.selection_set, stack)
            elif isinstance(selection, InlineFragmentNode):
                total += self.aliases(selection.selection_set, stack)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment_aliases(selection.name.value, stack)
        return total

    def _fragment_aliases(self, name: str, stack: frozenset[str]) -> int:
        if name in self._aliases:
            return self._aliases[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in stack:
            return 0
        self._aliases[name] = self.aliases(fragment.selection_set, stack | {name})
        return self._aliases[name]


def depth_and_alias_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """Build a validation rule that rejects operations deeper than `max_depth` fields or
    with more than `max_aliases` aliases."""

    class QueryLimitsRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = {
                definition.name.value: definition
                for definition in context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            self.walker = _Walker(fragments)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            name = node.name.value if node.name else "anonymous"
            depth = self.walker.depth(node.selection_set)
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"operation '{name}' is {depth} fields deep, more than the limit of {max_depth}",
                        node,
                        extensions={"code": QUERY_TOO_COMPLEX, "limit": "depth", "maximum": max_depth},
                    )
                )
            aliases = self.walker.aliases(node.selection_set)
            if aliases > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"operation '{name}' uses {aliases} aliases, more than the limit of {max_aliases}",
                        node,
                        extensions={"code": QUERY_TOO_COMPLEX, "limit": "aliases", "maximum": max_aliases},
                    )
                )

    return QueryLimitsRule
