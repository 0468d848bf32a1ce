"""Per-operation checks of the GraphQL-over-HTTP handler: persisted queries, introspection
policy, cost limit and the audit record of mutations and denials."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    visit,
)
from graphql.language import Visitor
from starlette.requests import Request

from common.errors import ForbiddenError, PersistedQueryNotFoundError, QueryLimitError
from gateway.auth.audit import audit_denied, audit_event
from gateway.auth.cost import operation_cost
from gateway.auth.persisted import query_hash
from gateway.auth.principal import Principal
from gateway.auth.runtime import AuthServices

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class _IntrospectionFinder(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_field(self, node: FieldNode, *_args: Any) -> Any:
        if node.name.value in _INTROSPECTION_FIELDS:
            self.found = True
            return Visitor.BREAK
        return None


def uses_introspection(document: DocumentNode) -> bool:
    """Tell whether the document selects `__schema` or `__type` anywhere, fragments included."""
    finder = _IntrospectionFinder()
    visit(document, finder)
    return finder.found


def principal_of(request: Request) -> Principal | None:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    return principal


class OperationGuard:
    """Checks a GraphQL request against the caller's permissions before it runs."""

    def __init__(self, schema: GraphQLSchema, max_cost: int, list_size: int) -> None:
        self.schema = schema
        self.max_cost = max_cost
        self.list_size = list_size

    @staticmethod
    def _auth(request: Request) -> AuthServices | None:
        services = getattr(request.app.state, "services", None)
        return getattr(services, "auth", None)

    def graphiql_allowed(self, request: Request) -> bool:
        auth, principal = self._auth(request), principal_of(request)
        return auth is None or (principal is not None and principal.kind in auth.settings.graphiql_callers)

    async def resolve_persisted_query(self, request: Request, params: dict[str, Any]) -> None:
        """Apply Apollo's APQ protocol to `params`: fill in the query of a known hash, register a new one.

        Raises PersistedQueryNotFoundError for an unknown hash sent without its query, and
        ForbiddenError for a caller restricted to persisted queries that sends query text of an
        unregistered hash.
        """
        auth, principal = self._auth(request), principal_of(request)
        extensions = params.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        restricted = (
            auth is not None
            and principal is not None
            and principal.kind in auth.settings.persisted_queries_only_callers
        )
        if persisted is None:
            if restricted:
                raise ForbiddenError(
                    "this client may run only persisted queries; send extensions.persistedQuery.sha256Hash",
                    reason="PERSISTED_QUERY_REQUIRED",
                )
            return
        if auth is None:
            return
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise QueryLimitError(
                'extensions.persistedQuery must be {"version": 1, "sha256Hash": ...}', reason="PERSISTED_QUERY_INVALID"
            )
        sha = persisted.get("sha256Hash")
        if not isinstance(sha, str) or not _SHA256_HEX.match(sha):
            raise QueryLimitError(
                "extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits", reason="PERSISTED_QUERY_INVALID"
            )
        query = params.get("query")
        stored = await auth.persisted_queries.get(sha)
        if query is None:
            if stored is None:
                raise PersistedQueryNotFoundError("PersistedQueryNotFound")
            params["query"] = stored
            return
        if not isinstance(query, str) or query_hash(query) != sha:
            raise QueryLimitError(
                "the query text does not match extensions.persistedQuery.sha256Hash",
                reason="PERSISTED_QUERY_HASH_MISMATCH",
            )
        if stored is None:
            if restricted:
                raise ForbiddenError(
                    "this client may run only persisted queries, and this hash is not registered",
                    reason="PERSISTED_QUERY_REQUIRED",
                )
            await auth.persisted_queries.put(sha, query)

    def check_operation(
        self,
        request: Request,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
    ) -> None:
        """Apply the introspection policy and the cost limit; raise ForbiddenError or QueryLimitError."""
        auth, principal = self._auth(request), principal_of(request)
        if auth is not None and principal is not None and principal.kind not in auth.settings.introspection_callers:
            if uses_introspection(document):
                error = ForbiddenError(
                    f"introspection is disabled for {principal.kind} callers; the schema is published as "
                    "schema.graphql",
                    reason="INTROSPECTION_DISABLED",
                )
                audit_denied(principal.label, principal.label, _name(operation), "INTROSPECTION_DISABLED")
                raise error
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        cost = operation_cost(self.schema, fragments, operation, variables, self.list_size, self.max_cost)
        if cost > self.max_cost:
            raise QueryLimitError(
                f"operation '{_name(operation)}' costs {cost}, more than the limit of {self.max_cost}; "
                "ask for fewer items with smaller `first` arguments or fewer nested lists",
                limit="cost",
                maximum=self.max_cost,
                cost=cost,
            )

    def audit(self, request: Request, operation: OperationDefinitionNode, result: ExecutionResult) -> None:
        """Log mutations and operations with permission errors to the audit log."""
        principal = principal_of(request)
        caller = principal.label if principal is not None else "-"
        codes = sorted(
            {
                str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))
                for error in result.errors or []
                if isinstance(error, GraphQLError)
            }
        )
        denied = [code for code in codes if code in ("FORBIDDEN", "UNAUTHENTICATED")]
        if denied:
            audit_denied(caller, caller, _name(operation), ",".join(denied))
        if operation.operation is OperationType.MUTATION:
            outcome = "ok" if not codes else "error:" + ",".join(codes)
            fields = ",".join(
                selection.name.value
                for selection in operation.selection_set.selections
                if isinstance(selection, FieldNode)
            )
            audit_event("mutation", caller, _name(operation), outcome, fields=fields)


def _name(operation: OperationDefinitionNode) -> str:
    return operation.name.value if operation.name else "anonymous"
