"""HTTP plumbing shared by the four subsystem apps: errors, request ids, JSON and body parsing.

Every error leaves as `{"error": {"code": ..., "message": ...}}` with a code a client can act on
(NOT_FOUND, INVALID_ARGUMENT, CONFLICT, INTERNAL), and every response echoes `X-Request-ID`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ModelT = TypeVar("ModelT", bound=BaseModel)
REQUEST_ID_HEADER = "X-Request-ID"
MAX_BODY_BYTES = 1024 * 1024


class ApiError(Exception):
    """An error response of a subsystem API: HTTP status, contract error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, "INVALID_ARGUMENT", message)

    @classmethod
    def not_found(cls, kind: str, record_id: str) -> ApiError:
        return cls(404, "NOT_FOUND", f"{kind} '{record_id}' not found")

    @classmethod
    def wrong_farm(cls, enclosure_id: str, owner_farm_id: str, farm_id: str) -> ApiError:
        message = f"field 'enclosure_id': enclosure '{enclosure_id}' belongs to farm '{owner_farm_id}', not '{farm_id}'"
        return cls.invalid(message)

    @classmethod
    def conflict(cls, message: str) -> ApiError:
        return cls(409, "CONFLICT", message)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Echo the caller's X-Request-ID, or mint one, on every response including errors."""
    request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ApiError, aiohttp's routing errors and unexpected exceptions into contract error bodies."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.message)
    except web.HTTPNotFound:
        return error_response(404, "NOT_FOUND", f"no route for {request.method} {request.path}")
    except web.HTTPMethodNotAllowed as error:
        allowed = ", ".join(sorted(error.allowed_methods))
        return error_response(
            405, "INVALID_ARGUMENT", f"{request.method} is not allowed on {request.path}; use {allowed}"
        )
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "INVALID_ARGUMENT", f"request body is larger than {MAX_BODY_BYTES} bytes")
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "INTERNAL", "internal error; see the sandbox log")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_base_app() -> web.Application:
    """Return an app with the shared middlewares and the /healthz route."""
    app = web.Application(middlewares=[request_id_middleware, error_middleware], client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/healthz", healthz)
    return app


def format_time(value: datetime) -> str:
    """Format as RFC 3339 UTC with a Z suffix, e.g. 2026-11-20T06:00:00Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(record: Any, exclude: Iterable[str] = ()) -> Any:
    """Convert a record dataclass, or a list or dict of them, to JSON-ready values."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        skipped = set(exclude)
        return {f.name: to_json(getattr(record, f.name)) for f in dataclasses.fields(record) if f.name not in skipped}
    if isinstance(record, datetime):
        return format_time(record)
    if isinstance(record, date):
        return record.isoformat()
    if isinstance(record, list | tuple):
        return [to_json(item) for item in record]
    if isinstance(record, dict):
        return {key: to_json(value) for key, value in record.items()}
    return record


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """Parse the body as a JSON object, or raise 400 INVALID_ARGUMENT."""
    raw = await request.read()
    if not raw:
        raise ApiError.invalid("request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ApiError.invalid(f"request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise ApiError.invalid(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def parse_body(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """Validate `body` against `model`; the 400 message names each invalid field."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            field = ".".join(str(part) for part in issue["loc"]) or "body"
            problems.append(f"field '{field}': {issue['msg']}")
        raise ApiError.invalid("invalid request body: " + ". ".join(problems)) from error
