"""GraphQL over HTTP: request parsing, status codes, caches, deadlines and error shaping.

Follows the GraphQL-over-HTTP draft: POST with `application/json` bodies and GET with query
parameters (queries only; a mutation over GET gets 405). Malformed requests get 400 whatever the
media type. Parse, validation and variable errors get 400 under
`application/graphql-response+json` and 200 under `application/json`, with no `data` entry.
Execution goes straight to graphql-core on the schema Strawberry built, after parsing and
validating through LRU caches keyed by the query text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from common.context import deadline_var
from common.errors import FishWatchError
from gateway.auth.guard import OperationGuard
from gateway.execution import FastPathExecutor
from gateway.negotiation import GRAPHQL_RESPONSE_JSON, JSON, choose_media_type, wants_html
from resolvers.limits import QUERY_TOO_COMPLEX, count_tokens

logger = logging.getLogger(__name__)

ContextFactory = Callable[[Request], Awaitable[Any]]


@dataclass(frozen=True)
class HTTPLimits:
    """Bounds of one GraphQL-over-HTTP request; sizes in bytes, times in seconds."""

    max_body_bytes: int = 1_048_576
    max_tokens: int = 5000
    request_timeout_s: float = 10.0
    document_cache_size: int = 1024
    graphiql_enabled: bool = True


class RequestError(Exception):
    """A request the server rejects before or instead of executing it."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


class DocumentError(Exception):
    """Parse, validation or operation-selection errors of a well-formed request."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "invalid document")
        self.errors = errors


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        if self.size <= 0:
            return
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


def _with_code(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    extensions.setdefault("code", code)
    formatted["extensions"] = extensions
    return formatted


def format_execution_error(error: GraphQLError) -> dict[str, Any]:
    """Shape an execution error for the client; hide the details of unexpected exceptions."""
    original = error.original_error
    if original is None or isinstance(original, FishWatchError | GraphQLError):
        return _with_code(error, "INTERNAL_SERVER_ERROR")
    logger.error("unexpected error resolving %s: %r", ".".join(map(str, error.path or [])), original, exc_info=original)
    return {
        "message": "internal error; the gateway logged the details under this request's id",
        "locations": error.formatted.get("locations"),
        "path": error.path,
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }


class GraphQLHTTPHandler:
    """The `/graphql` endpoint for GET and POST."""

    def __init__(
        self,
        schema: GraphQLSchema,
        limits: HTTPLimits,
        context_factory: ContextFactory,
        extra_rules: list[Any],
        guard: OperationGuard | None = None,
    ) -> None:
        self.schema = schema
        # Persisted queries, introspection policy, cost limit and audit; None runs none of them.
        self.guard = guard
        self.limits = limits
        self.context_factory = context_factory
        self.rules = [*specified_rules, *extra_rules]
        self.documents = _LRU(limits.document_cache_size)
        self.validations = _LRU(limits.document_cache_size)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        media_type = JSON
        operation_name: str | None = None
        status = 500
        try:
            accept = request.headers.get("accept")
            if request.method == "GET" and not request.query_params and wants_html(accept):
                if not self.limits.graphiql_enabled:
                    raise RequestError(404, "GraphiQL is disabled on this gateway", "NOT_FOUND")
                if self.guard is not None and not self.guard.graphiql_allowed(request):
                    raise RequestError(403, "GraphiQL is disabled for this kind of caller", "FORBIDDEN")
                status = 200
                return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
            chosen = choose_media_type(accept)
            if chosen is None:
                raise RequestError(
                    406,
                    f"cannot answer with any of the types in Accept '{accept}'; "
                    f"accept {GRAPHQL_RESPONSE_JSON} or {JSON}",
                    "NOT_ACCEPTABLE",
                )
            media_type = chosen
            params = await self._read_params(request)
            operation_name = params.get("operationName")
            result = await self._run(request, params)
            if result.data is None and result.errors and all(error.path is None for error in result.errors):
                # Variable coercion failed, so nothing ran: a request error under the new media type.
                # An execution error always has a path. When one nulls a non-null root field, data
                # is null but execution started, so the response is 200 and keeps the data entry.
                status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
                body: dict[str, Any] = {"errors": [_with_code(error, "BAD_USER_INPUT") for error in result.errors]}
            else:
                status = 200
                body = {"data": result.data}
                if result.errors:
                    body = {"errors": [format_execution_error(error) for error in result.errors], **body}
            return self._json(body, status, media_type)
        except RequestError as exc:
            status = exc.status
            body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}
            return self._json(body, status, media_type, exc.headers)
        except FishWatchError as exc:
            # Raised by the guard before execution: persisted-query, introspection and cost errors.
            status = exc.http_status if media_type == GRAPHQL_RESPONSE_JSON or exc.http_status == 403 else 200
            return self._json({"errors": [{"message": exc.message, "extensions": exc.extensions}]}, status, media_type)
        except DocumentError as exc:
            status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
            return self._json(
                {"errors": [_with_code(error, "GRAPHQL_VALIDATION_FAILED") for error in exc.errors]}, status, media_type
            )
        finally:
            logger.info(
                "graphql %s operation=%s status=%d duration_ms=%.1f",
                request.method,
                operation_name or "-",
                status,
                (time.perf_counter() - started) * 1000,
            )

    def _json(
        self, body: dict[str, Any], status: int, media_type: str, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            json.dumps(body, separators=(",", ":"), default=str),
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers=headers,
        )

    async def _read_params(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            for key in ("variables", "extensions"):
                if params.get(key):
                    params[key] = self._decode_json(params[key], f"the {key} query parameter")
                else:
                    params.pop(key, None)
        elif request.method == "POST":
            params = await self._read_post_body(request)
        else:
            raise RequestError(
                405,
                f"method {request.method} is not allowed; use GET or POST",
                "METHOD_NOT_ALLOWED",
                {"Allow": "GET, POST"},
            )
        if self.guard is not None:
            await self.guard.resolve_persisted_query(request, params)
        self._check_params(params)
        return params

    async def _read_post_body(self, request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type")
        if content_type is None:
            raise RequestError(415, "missing Content-Type; send application/json", "UNSUPPORTED_MEDIA_TYPE")
        media, _, parameters = content_type.partition(";")
        charset = "utf-8"
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip('"').lower()
        if media.strip().lower() != JSON or charset not in ("utf-8", "utf8"):
            raise RequestError(
                415,
                f"Content-Type '{content_type}' is not supported; send application/json in UTF-8",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        body = await request.body()
        if not body:
            raise RequestError(400, "the request body is empty; send a JSON object with a query", "BAD_REQUEST")
        payload = self._decode_json(body, "the request body")
        if isinstance(payload, list):
            raise RequestError(
                400, "batched requests are not supported; send one JSON object per request", "BAD_REQUEST"
            )
        if not isinstance(payload, dict):
            raise RequestError(400, "the request body must be a JSON object", "BAD_REQUEST")
        return payload

    @staticmethod
    def _decode_json(raw: str | bytes, what: str) -> Any:
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(400, f"{what} is not valid JSON: {exc}", "BAD_REQUEST") from None

    @staticmethod
    def _check_params(params: dict[str, Any]) -> None:
        query = params.get("query")
        if query is None:
            raise RequestError(400, "missing the query parameter: send the GraphQL document as a string", "BAD_REQUEST")
        if not isinstance(query, str):
            raise RequestError(400, f"query must be a string, got {_json_type(query)}", "BAD_REQUEST")
        for key, expected, kind in (
            ("operationName", str, "a string"),
            ("variables", dict, "an object"),
            ("extensions", dict, "an object"),
        ):
            value = params.get(key)
            if value is not None and not isinstance(value, expected):
                raise RequestError(400, f"{key} must be {kind} or null, got {_json_type(value)}", "BAD_REQUEST")

    def _document(self, query: str) -> DocumentNode:
        document = self.documents.get(query)
        if document is not None:
            return document
        try:
            tokens = count_tokens(query, self.limits.max_tokens)
        except GraphQLError as exc:
            raise DocumentError([GraphQLError(exc.message, extensions={"code": "GRAPHQL_PARSE_FAILED"})]) from None
        if tokens > self.limits.max_tokens:
            raise DocumentError(
                [
                    GraphQLError(
                        f"the document has more than {self.limits.max_tokens} tokens",
                        extensions={"code": QUERY_TOO_COMPLEX, "limit": "tokens", "maximum": self.limits.max_tokens},
                    )
                ]
            )
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as exc:
            raise DocumentError([_copy_with_code(exc, "GRAPHQL_PARSE_FAILED")]) from None
        self.documents.put(query, document)
        return document

    def _validate(self, query: str, document: DocumentNode) -> None:
        errors = self.validations.get(query)
        if errors is None:
            errors = validate(self.schema, document, self.rules)
            self.validations.put(query, errors)
        if errors:
            raise DocumentError(errors)

    async def _run(self, request: Request, params: dict[str, Any]) -> ExecutionResult:
        query: str = params["query"]
        operation_name: str | None = params.get("operationName")
        document = self._document(query)
        self._validate(query, document)
        operation = self._operation(document, operation_name)
        if operation.operation is OperationType.MUTATION and request.method == "GET":
            raise RequestError(405, "mutations are only allowed over POST", "METHOD_NOT_ALLOWED", {"Allow": "POST"})
        if operation.operation is OperationType.SUBSCRIPTION:
            raise DocumentError(
                [
                    GraphQLError(
                        "subscriptions are served over WebSocket at /graphql (graphql-transport-ws or graphql-ws)",
                        extensions={"code": "OPERATION_NOT_SUPPORTED"},
                    )
                ]
            )
        if self.guard is not None:
            self.guard.check_operation(request, document, operation, params.get("variables"))

        context = await self.context_factory(request)
        loop = asyncio.get_running_loop()
        deadline_token = deadline_var.set(loop.time() + self.limits.request_timeout_s)
        try:
            outcome = execute(
                self.schema,
                document,
                context_value=context,
                variable_values=params.get("variables"),
                operation_name=operation_name,
                executor_class=FastPathExecutor,
            )
            if asyncio.iscoroutine(outcome) or isinstance(outcome, Awaitable):
                # Connectors stop at the deadline; the margin only guards against a resolver that ignores it.
                try:
                    result = await asyncio.wait_for(outcome, self.limits.request_timeout_s + 1.0)
                except TimeoutError:
                    raise RequestError(
                        504, f"the request did not finish within {self.limits.request_timeout_s} s", "REQUEST_TIMEOUT"
                    ) from None
            else:
                result = outcome
            if self.guard is not None:
                self.guard.audit(request, operation, result)
            return result
        finally:
            deadline_var.reset(deadline_token)

    @staticmethod
    def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
        operation = get_operation_ast(document, operation_name)
        if operation is not None:
            return operation
        if operation_name:
            message = f"the document has no operation named '{operation_name}'"
        else:
            message = "the document has several operations; name the one to run in operationName"
        raise DocumentError([GraphQLError(message, extensions={"code": "OPERATION_NOT_FOUND"})])


def _json_type(value: Any) -> str:
    """Name a decoded JSON value's type as a client sees it ("a number", not "int")."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _copy_with_code(error: GraphQLError, code: str) -> GraphQLError:
    return GraphQLError(
        error.message,
        source=error.source,
        positions=error.positions,
        extensions={**(error.extensions or {}), "code": code},
    )
