"""The project's exception tree.

Every error a client can see derives from `FishWatchError`. Decisions live on the class as
attributes (`code` for GraphQL `extensions.code`, `http_status`, `retryable`), so no caller ever
parses a message. graphql-core copies an original error's `extensions` into the GraphQL error,
which is how `code` and the details below reach the client.
"""

from __future__ import annotations

from typing import Any


class FishWatchError(Exception):
    """Root of every error the gateway raises on purpose."""

    code = "INTERNAL_SERVER_ERROR"
    http_status = 500
    retryable = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {key: value for key, value in details.items() if value is not None}

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class ConfigError(FishWatchError):
    """A setting is missing or invalid; raised at start-up."""

    code = "CONFIG_INVALID"


class BadRequestError(FishWatchError):
    """A GraphQL-over-HTTP request is malformed before any GraphQL runs."""

    code = "BAD_REQUEST"
    http_status = 400


class InvalidArgumentError(FishWatchError):
    """An argument of a GraphQL field is out of range or malformed."""

    code = "BAD_USER_INPUT"
    http_status = 400


class NotFoundError(FishWatchError):
    """The object asked for does not exist (or is not visible to the caller)."""

    code = "NOT_FOUND"
    http_status = 404


class ConflictError(FishWatchError):
    """The object is in a state that does not allow the change."""

    code = "CONFLICT"
    http_status = 409


class QueryLimitError(FishWatchError):
    """A query exceeds a depth, token, alias or cost limit."""

    code = "QUERY_TOO_COMPLEX"
    http_status = 400


class AuthError(FishWatchError):
    """Root of authentication and authorization errors; `oauth_error` is the RFC 6750 error code."""

    code = "UNAUTHENTICATED"
    http_status = 401
    oauth_error: str | None = "invalid_token"


class MissingTokenError(AuthError):
    """The request carries no bearer token and anonymous callers are not allowed."""

    # RFC 6750 §3.1: a request without any authentication gets no error code.
    oauth_error = None


class InvalidTokenError(AuthError):
    """The bearer token is malformed, forged, expired, revoked or from an unknown issuer or key."""


class ForbiddenError(AuthError):
    """The caller is authenticated but lacks a scope the operation requires."""

    code = "FORBIDDEN"
    http_status = 403
    oauth_error = "insufficient_scope"


class RateLimitedError(FishWatchError):
    """The caller sent more requests than its rate limit allows; retry after `retry_after_s`."""

    code = "RATE_LIMITED"
    http_status = 429
    retryable = True


class PersistedQueryNotFoundError(FishWatchError):
    """The persisted query hash is unknown; send the query text with it (Apollo APQ protocol)."""

    # Apollo clients look for this exact message and code to resend the query with its hash.
    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 200


class AuthConfigError(ConfigError):
    """An authentication setting, signing key, client file or issuer is invalid; raised at start-up."""


class UpstreamError(FishWatchError):
    """A subsystem call failed; `subsystem` names the subsystem."""

    code = "UPSTREAM_ERROR"
    http_status = 502

    def __init__(self, message: str, *, subsystem: str, **details: Any) -> None:
        super().__init__(message, subsystem=subsystem, **details)
        self.subsystem = subsystem


class UpstreamUnavailableError(UpstreamError):
    """The subsystem refused the connection, returned a 5xx status, or its circuit is open."""

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503
    retryable = True


class UpstreamTimeoutError(UpstreamError):
    """The subsystem did not respond within the call's timeout or the request's deadline."""

    code = "UPSTREAM_TIMEOUT"
    http_status = 504
    retryable = True


class UpstreamBadResponseError(UpstreamError):
    """The subsystem returned a payload that does not match its contract."""

    code = "UPSTREAM_BAD_RESPONSE"


class UpstreamRejectedError(UpstreamError):
    """The subsystem rejected the call with a 4xx other than 404 or 409."""

    code = "UPSTREAM_REJECTED"


class UpstreamNotFoundError(UpstreamError, NotFoundError):
    """The subsystem answered 404 for the object asked for."""

    code = "NOT_FOUND"
    http_status = 404


class UpstreamConflictError(UpstreamError, ConflictError):
    """The subsystem answered 409: the object's state does not allow the change."""

    code = "CONFLICT"
    http_status = 409


class WorkflowError(FishWatchError):
    """Root of the workflow engine's errors."""

    code = "WORKFLOW_ERROR"


class WorkflowTemplateNotFoundError(WorkflowError, NotFoundError):
    """No loaded template has the name asked for."""

    code = "WORKFLOW_TEMPLATE_NOT_FOUND"
    http_status = 404


class WorkflowTemplateInvalidError(WorkflowError):
    """A template file fails validation; `issues` lists every problem with file, step and field."""

    code = "WORKFLOW_TEMPLATE_INVALID"

    def __init__(self, message: str, *, issues: list[str] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.issues = issues or []


class WorkflowInputError(WorkflowError, InvalidArgumentError):
    """A run's input fails the template's JSON Schema, or a step's inputs fail its action's arguments."""

    code = "WORKFLOW_INPUT_INVALID"
    http_status = 400


class WorkflowRunNotFoundError(WorkflowError, NotFoundError):
    """No stored run has the id asked for (it may have passed its retention)."""

    code = "WORKFLOW_RUN_NOT_FOUND"
    http_status = 404


class WorkflowStateError(WorkflowError, ConflictError):
    """The run or step is in a state that does not allow the change (cancel a finished run, approve a running step)."""

    code = "WORKFLOW_STATE_CONFLICT"
    http_status = 409


class WorkflowActionNotFoundError(WorkflowError):
    """A step names a connector action that is not registered."""

    code = "WORKFLOW_ACTION_NOT_FOUND"


class WorkflowExpressionError(WorkflowError):
    """A step's expression failed to evaluate against the run's input and outputs."""

    code = "WORKFLOW_EXPRESSION_FAILED"


class WorkflowStepTimeoutError(WorkflowError):
    """A step attempt ran past its timeout and was cancelled."""

    code = "WORKFLOW_STEP_TIMEOUT"
    retryable = True


class WorkflowEventTimeoutError(WorkflowError):
    """A step waiting for an event saw no matching event before its deadline."""

    code = "WORKFLOW_EVENT_TIMEOUT"


class WorkflowStepRejectedError(WorkflowError):
    """A human rejected the approval a step was waiting for."""

    code = "WORKFLOW_STEP_REJECTED"


class WorkflowLeaseLostError(WorkflowError):
    """Another replica owns the run now, so this replica must stop acting on it."""

    code = "WORKFLOW_LEASE_LOST"
    retryable = True


class WorkflowStoreError(WorkflowError):
    """The run store could not be read or written."""

    code = "WORKFLOW_STORE_UNAVAILABLE"
    http_status = 503
    retryable = True
