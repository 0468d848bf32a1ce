"""The introspection policy, the cost limit and the audit of mutations, for operations that
Strawberry runs itself.

The HTTP handler applies all three in `guard.OperationGuard`. Operations over WebSocket go through
Strawberry's own pipeline or the WebSocket endpoint's subscription stream instead, so this module
provides a validation rule per operation that reads the caller (`context.principal`) and the
operation's variables, and a schema extension that adds it in Strawberry's pipeline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import ASTValidationRule, FragmentDefinitionNode, GraphQLError, OperationDefinitionNode, ValidationContext
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

from gateway.auth.audit import audit_denied, audit_event
from gateway.auth.config import CallerKind
from gateway.auth.cost import operation_cost
from gateway.auth.guard import uses_introspection

# The callable graphql-core's `validate` calls with the ValidationContext to get a rule's visitor.
RuleFactory = Callable[[ValidationContext], ASTValidationRule]


@dataclass(frozen=True)
class OperationPolicy:
    """Caller kinds allowed introspection or limited to persisted queries, and the cost limit."""

    introspection_callers: frozenset[CallerKind]
    max_cost: int
    list_size: int
    persisted_only_callers: frozenset[CallerKind]

    def rule(self, principal: Any, variables: dict[str, Any]) -> RuleFactory:
        """Return the validation rule for one operation of this caller with these variables.

        A partial of one class rather than a class per operation, so nothing per operation
        outlives validation.
        """
        return functools.partial(OperationPolicyRule, policy=self, principal=principal, variables=variables)


class OperationPolicyRule(ASTValidationRule):
    """Reject persisted-only callers, introspection by callers not allowed it, and operations over the cost limit."""

    def __init__(
        self, context: ValidationContext, *, policy: OperationPolicy, principal: Any, variables: dict[str, Any]
    ) -> None:
        super().__init__(context)
        self.policy = policy
        self.principal = principal
        self.variables = variables
        self.schema = context.schema
        self.fragments = {
            definition.name.value: definition
            for definition in context.document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        policy = self.policy
        name = node.name.value if node.name else "anonymous"
        kind = getattr(self.principal, "kind", None)
        if kind is not None and kind in policy.persisted_only_callers:
            # NOTE: persisted subscriptions are refused too; only HTTP looks hashes up.
            self.report_error(
                GraphQLError(
                    f"{kind} callers may run only persisted queries, which this gateway accepts over "
                    "HTTP only; send the operation as a persisted query over HTTP",
                    node,
                    extensions={"code": "FORBIDDEN", "reason": "PERSISTED_QUERY_REQUIRED"},
                )
            )
            return
        if kind is not None and kind not in policy.introspection_callers and uses_introspection(self.context.document):
            self.report_error(
                GraphQLError(
                    f"introspection is disabled for {kind} callers; the schema is published as schema.graphql",
                    node,
                    extensions={"code": "FORBIDDEN", "reason": "INTROSPECTION_DISABLED"},
                )
            )
        cost = operation_cost(self.schema, self.fragments, node, self.variables, policy.list_size, policy.max_cost)
        if cost > policy.max_cost:
            self.report_error(
                GraphQLError(
                    f"operation '{name}' costs {cost}, more than the limit of {policy.max_cost}; ask for fewer "
                    "items with smaller `first` arguments or fewer nested lists",
                    node,
                    extensions={
                        "code": "QUERY_TOO_COMPLEX",
                        "limit": "cost",
                        "maximum": policy.max_cost,
                        "cost": cost,
                    },
                )
            )


def _audit_mutation(principal: Any, operation_name: str | None, result: Any) -> None:
    caller = principal.label if principal is not None else "-"
    errors = getattr(result, "errors", None) or []
    codes = sorted({str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")) for error in errors})
    denied = [code for code in codes if code in ("FORBIDDEN", "UNAUTHENTICATED")]
    if denied:
        audit_denied(caller, caller, operation_name or "anonymous", ",".join(denied))
    outcome = "ok" if not codes else "error:" + ",".join(codes)
    audit_event("mutation", caller, operation_name or "anonymous", outcome, transport="websocket")


def operation_policy_extension(
    introspection_callers: list[CallerKind],
    max_cost: int,
    list_size: int,
    persisted_only_callers: list[CallerKind] | None = None,
) -> type[SchemaExtension]:
    """Build the schema extension class for these settings, which its `policy` attribute contains.

    Callers limited to persisted queries are refused every operation over WebSocket, because the
    hash lookup is asynchronous and cannot run inside a validation rule; refusing keeps the limit
    from being bypassed there.
    """
    chosen = OperationPolicy(
        introspection_callers=frozenset(introspection_callers),
        max_cost=max_cost,
        list_size=list_size,
        persisted_only_callers=frozenset(persisted_only_callers or []),
    )

    class OperationPolicyExtension(SchemaExtension):
        policy = chosen

        def on_operation(self) -> Iterator[None]:
            context = self.execution_context
            principal = getattr(context.context, "principal", None)
            variables = dict(context.variables or {})
            rule: Any = chosen.rule(principal, variables)
            context.validation_rules = (*context.validation_rules, rule)
            yield
            if context.graphql_document is not None and context.operation_type is StrawberryOperationType.MUTATION:
                _audit_mutation(principal, context.operation_name, context.result)

    return OperationPolicyExtension
