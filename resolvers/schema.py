"""Assembly of the Strawberry schema from the root types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.tools import merge_types

from resolvers.limits import depth_and_alias_rule
from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.subscription import Subscription
from resolvers.workflows import WorkflowMutation, WorkflowQuery

# Root types of each kind, merged into one. Packages that add root fields append their class here.
QUERY_TYPES: list[type] = [Query, WorkflowQuery]
MUTATION_TYPES: list[type] = [Mutation, WorkflowMutation]
SUBSCRIPTION_TYPES: list[type] = [Subscription]


def _merged(name: str, types: list[type], description: str) -> type:
    merged = merge_types(name, tuple(types))
    # merge_types drops descriptions; the published schema documents every type.
    merged.__strawberry_definition__.description = description  # type: ignore[attr-defined]
    return merged


def build_schema(
    *,
    max_depth: int = 12,
    max_aliases: int = 50,
    max_tokens: int = 5000,
    extra_extensions: Sequence[Any] = (),
) -> strawberry.Schema:
    """Build the gateway's schema; the limits also guard operations over WebSocket."""
    query = _merged(
        "Query", QUERY_TYPES, "Read access to everything Fish Watch knows, fetched live from the subsystems."
    )
    mutation = _merged("Mutation", MUTATION_TYPES, "Changes made through the gateway.")
    subscription = None
    if SUBSCRIPTION_TYPES:
        subscription = _merged("Subscription", SUBSCRIPTION_TYPES, "Live events from the event bus.")
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules([depth_and_alias_rule(max_depth, max_aliases)]),
        *extra_extensions,
    ]
    return strawberry.Schema(query=query, mutation=mutation, subscription=subscription, extensions=extensions)
