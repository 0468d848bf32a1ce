"""GraphQL subscriptions for the WebSocket endpoint, run on graphql-core without Strawberry's pipeline.

Strawberry's `Schema.stream` keeps an execution context, an extension runner and the open
contexts of every extension hook alive for as long as a subscription runs, and passes each
result through those hooks. `SubscriptionStream.stream` replaces it on the endpoint's schema. It
parses a subscription (one syntax tree per distinct document), validates it with the schema's own
rules and limits plus the operation policy (once per document, caller kind and variables), and
then iterates the resolver's event stream itself. Each event is rendered once per operation and
variables through the RenderCache (see subscriptions/render_cache.py). A running subscription
keeps no validation state of its own.

Queries and mutations over WebSocket, and documents that do not parse or name no operation, go
to Strawberry's own `stream`, so their errors, close codes and the audit of mutations stay as
they were.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, cast

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    create_source_event_stream,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.execution import ExecutionResult, PreExecutionError

from common.errors import ConfigError, FishWatchError
from gateway.auth.operation_policy import OperationPolicy
from subscriptions.render_cache import RenderCache, freeze, operation_render_key

logger = logging.getLogger(__name__)

# Key of GatewayContext.extras under which the WebSocket endpoint passes the RenderCache.
RENDER_CACHE_KEY = "subscription_render_cache"

StreamFunction = Callable[..., Awaitable[Any]]


class SubscriptionStream:
    """A replacement for `Schema.stream` that runs subscriptions on graphql-core directly.

    The validation rules and the token limit come from the schema's extensions, so WebSocket
    subscriptions are checked exactly as Strawberry checked them. A schema extension this class
    does not know raises ConfigError, since its hooks would silently stop running.
    """

    def __init__(self, schema: strawberry.Schema, delegate: StreamFunction, *, parsed_documents_max: int) -> None:
        self.graphql_schema = schema._schema
        self.delegate = delegate
        self.parsed_documents_max = parsed_documents_max
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        # Validation errors by document text, caller kind and variables, which are the only inputs
        # of the rules, so thousands of subscribers of one document are validated once.
        self._validations: OrderedDict[Hashable, list[GraphQLError]] = OrderedDict()
        self.max_tokens: int | None = None
        self.policy: OperationPolicy | None = None
        rules: list[Any] = list(specified_rules)
        for factory in schema.extensions:
            policy = getattr(factory, "policy", None)
            if isinstance(policy, OperationPolicy):
                self.policy = policy
                continue
            extension = factory if isinstance(factory, SchemaExtension) else factory()
            if isinstance(extension, AddValidationRules):
                rules.extend(extension.validation_rules)
            elif isinstance(extension, MaxTokensLimiter):
                self.max_tokens = extension.max_token_count
            else:
                raise ConfigError(
                    f"the schema extension {type(extension).__name__} has no equivalent in the WebSocket "
                    "subscription stream; teach gateway/subscription_stream.py to apply it"
                )
        self.rules: tuple[type[ASTValidationRule], ...] = tuple(rules)

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Any = None,
    ) -> AsyncIterator[Any]:
        """Return the results of one operation, as `strawberry.Schema.stream` does."""
        document = self._document(query) if isinstance(query, str) else None
        operation = None
        if document is not None and (variable_values is None or isinstance(variable_values, dict)):
            operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
            result: AsyncIterator[Any] = await self.delegate(
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                operation_extensions=operation_extensions,
                allowed_operation_types=allowed_operation_types,
            )
            return result
        assert document is not None and query is not None
        return self._results(query, document, operation, variable_values or {}, context_value, root_value)

    def _document(self, query: str) -> DocumentNode | None:
        """Return the parsed document, or None when it does not parse (Strawberry then reports why)."""
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
            return document
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return None
        self._documents[query] = document
        while len(self._documents) > self.parsed_documents_max:
            self._documents.popitem(last=False)
        return document

    def _validate(
        self, query: str, document: DocumentNode, principal: Any, variables: dict[str, Any]
    ) -> list[GraphQLError]:
        """Return the validation errors of the operation for this caller and these variables.

        The operation policy reads only the caller's kind, so that kind is part of the cache key.
        """
        try:
            key: Hashable | None = (query, getattr(principal, "kind", None), freeze(variables))
        except TypeError:
            key = None
        if key is not None:
            errors = self._validations.get(key)
            if errors is not None:
                self._validations.move_to_end(key)
                return errors
        rules: list[Any] = list(self.rules)
        if self.policy is not None:
            rules.append(self.policy.rule(principal, variables))
        errors = validate(self.graphql_schema, document, rules)
        if key is not None:
            self._validations[key] = errors
            while len(self._validations) > self.parsed_documents_max:
                self._validations.popitem(last=False)
        return errors

    async def _results(
        self,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        context: Any,
        root_value: Any,
    ) -> AsyncIterator[ExecutionResult]:
        # 1. Validate. The errors go out as the operation's "error" message, as Strawberry's do.
        errors = self._validate(query, document, getattr(context, "principal", None), variables)
        if errors:
            yield PreExecutionError(data=None, errors=errors)
            return

        # 2. Coerce the variables and call the subscription resolver for its event stream.
        name = operation.name.value if operation.name else None
        executor = StrawberryGraphQLCoreExecutionContext.build(
            self.graphql_schema, document, root_value, context, variables, name
        )
        if isinstance(executor, list):
            yield PreExecutionError(data=None, errors=executor)
            return
        created = create_source_event_stream(executor)
        source = await created if executor.is_awaitable(created) else created
        if isinstance(source, GraphQLExecutionResult):
            yield PreExecutionError(data=None, errors=source.errors)
            return

        # 3. Render each event, once per operation and variables when the cache can share it.
        extras = getattr(context, "extras", None)
        found = extras.get(RENDER_CACHE_KEY) if isinstance(extras, dict) else None
        operation_key = operation_render_key(executor) if isinstance(found, RenderCache) else None
        cache = found if operation_key is not None else None
        events: AsyncIterator[Any] = aiter(cast(AsyncIterable[Any], source))
        try:
            async for payload in events:
                result: ExecutionResult | None = None
                key: Hashable | None = None
                if cache is not None:
                    named = cache.payload_key(payload)
                    key = None if named is None else (named, operation_key)
                    if key is not None:
                        result = cache.get(key)
                    del named
                if result is None:
                    result = await self._execute(executor, payload, cache, key)
                # Nothing of this event stays referenced while the subscriber waits for the next one:
                # objects that live across that wait are scanned by the young garbage collection,
                # once per subscriber and event (see gateway/gc_policy.py).
                del payload, key
                yield result
                del result
        except Exception as exc:  # An error of the event stream ends it with an error result.
            error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            if not isinstance(exc, FishWatchError | GraphQLError):
                logger.error("subscription event stream failed: %r", exc, exc_info=exc)
            yield ExecutionResult(data=None, errors=[error])
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    @staticmethod
    async def _execute(executor: Any, payload: Any, cache: RenderCache | None, key: Hashable | None) -> ExecutionResult:
        """Execute the selection set for one event and share the result under `key` when there is one."""
        per_event = executor.build_per_event_executor(payload)
        outcome = per_event.execute_operation(False)
        result = await outcome if per_event.is_awaitable(outcome) else outcome
        assert isinstance(result, GraphQLExecutionResult)
        if cache is not None and key is not None:
            shared = cache.put(key, result)
            if isinstance(shared, ExecutionResult):
                return shared
        return ExecutionResult(data=result.data, errors=result.errors, extensions=result.extensions)
