"""The shared base of every subsystem connector.

Each subsystem gets one aiohttp session for the process lifetime. Connect and total timeouts are
bounded by the current request's deadline, and only idempotent calls are retried, with
exponential backoff and full jitter. A circuit breaker guards each subsystem, the request id is
forwarded upstream, every payload is validated against a pydantic model, and each upstream call
logs one line. aiohttp and pydantic errors
are translated here, at the boundary, into the `Upstream*Error` classes of `common.errors`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import TypeAdapter, ValidationError

from common.context import remaining_budget_s, request_id_var
from common.errors import (
    UpstreamBadResponseError,
    UpstreamConflictError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from connectors.breaker import CircuitBreaker
from connectors.payloads.common import Page

logger = logging.getLogger(__name__)

T = TypeVar("T")

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}

QueryParams = Mapping[str, str | int | float | list[str] | None]


def _adapter(model: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


@dataclass(frozen=True)
class ConnectorConfig:
    """Connection settings of one connector; every duration in seconds."""

    name: str
    base_url: str
    auth_header: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 1.0
    timeout_s: float = 5.0
    max_attempts: int = 3
    backoff_base_s: float = 0.05
    backoff_max_s: float = 1.0
    pool_size: int = 100
    max_response_bytes: int = 32 * 1024 * 1024
    breaker_failure_threshold: int = 5
    breaker_reset_s: float = 10.0


@dataclass
class ConnectorStats:
    """Counters of upstream traffic, read by metrics and by tests that count calls."""

    requests: int = 0
    failures: int = 0


def segment(value: str) -> str:
    """Quote one path segment, so an id can never add path components upstream."""
    return quote(value, safe="")


def _encode_params(params: QueryParams | None) -> list[tuple[str, str]]:
    encoded: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, list):
            encoded.extend((key, str(item)) for item in value)
        else:
            encoded.append((key, str(value)))
    return encoded


def _upstream_message(body: bytes) -> str | None:
    """Pull the human message out of a subsystem's error body, if it has one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
        if isinstance(payload.get("message"), str):  # MLflow's error shape
            return str(payload["message"])[:300]
    return None


class Connector:
    """Base of the per-subsystem connectors; subclasses add typed methods and actions."""

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config
        self.name = config.name
        self.stats = ConnectorStats()
        self.breaker = CircuitBreaker(config.breaker_failure_threshold, config.breaker_reset_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is not None:
            return
        headers = {"Accept": "application/json", "User-Agent": "fishwatch-gateway"}
        if self.config.auth_header:
            headers["Authorization"] = self.config.auth_header
        self._session = aiohttp.ClientSession(
            base_url=self.config.base_url + "/",
            headers=headers,
            connector=aiohttp.TCPConnector(limit=self.config.pool_size, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(sock_connect=self.config.connect_timeout_s),
            raise_for_status=False,
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def ping(self, path: str = "healthz") -> None:
        """Call the subsystem's health endpoint once, without retries; raise UpstreamError."""
        await self._send("GET", path, params=None, json_body=None, headers=None, attempt=1)

    async def call(
        self,
        method: str,
        path: str,
        model: Any,
        *,
        params: QueryParams | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one logical call (with retries when safe) and return the payload as `model`.

        `path` is relative to the base URL. POST is retried only with an `idempotency_key` or
        when `idempotent=True` marks it read-only. Raises an `UpstreamError` subclass.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS or idempotency_key is not None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        attempts = self.config.max_attempts if idempotent else 1

        for attempt in range(1, attempts + 1):
            try:
                body = await self._send(
                    method, path, params=params, json_body=json_body, headers=headers, attempt=attempt
                )
                break
            except UpstreamError as exc:
                if not exc.retryable or attempt == attempts:
                    raise
                delay = self._backoff_s(attempt)
                budget = remaining_budget_s()
                if budget is not None and delay >= budget:
                    raise
                await asyncio.sleep(delay)
        return self._validate(body, model, method, path)

    def _backoff_s(self, attempt: int) -> float:
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)

    def _attempt_timeout_s(self, path: str) -> float:
        timeout = self.config.timeout_s
        budget = remaining_budget_s()
        if budget is not None:
            if budget <= 0:
                raise UpstreamTimeoutError(
                    f"{self.name}: the request's deadline passed before calling {path}",
                    subsystem=self.name,
                )
            timeout = min(timeout, budget)
        return timeout

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None,
        json_body: Any,
        headers: dict[str, str] | None,
        attempt: int,
    ) -> bytes:
        """Send one HTTP request; return the body of a 2xx response or raise an UpstreamError."""
        if self._session is None:
            raise UpstreamUnavailableError(f"{self.name}: connector is not started", subsystem=self.name)
        if not self.breaker.allow():
            raise UpstreamUnavailableError(
                f"{self.name} is unavailable: circuit open after repeated failures, "
                f"next probe in {self.breaker.retry_after_s():.1f} s",
                subsystem=self.name,
                reason="circuit_open",
            )

        request_headers = dict(headers or {})
        request_id = request_id_var.get()
        if request_id:
            request_headers["X-Request-ID"] = request_id
        timeout = self._attempt_timeout_s(path)
        started = time.perf_counter()
        status: int | str = "-"
        self.stats.requests += 1
        try:
            async with self._session.request(
                method,
                path.lstrip("/"),
                params=_encode_params(params),
                json=json_body,
                headers=request_headers,
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=self.config.connect_timeout_s),
            ) as response:
                status = response.status
                body = await self._read_body(response, path)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            status = "timeout"
            self._record(failed=True)
            raise UpstreamTimeoutError(
                f"{self.name} did not respond to {method} /{path.lstrip('/')} within {timeout:.2f} s",
                subsystem=self.name,
            ) from exc
        except aiohttp.ClientError as exc:
            status = "unreachable"
            self._record(failed=True)
            raise UpstreamUnavailableError(
                f"{self.name} is unreachable at {self.config.base_url}: {exc.__class__.__name__}",
                subsystem=self.name,
            ) from exc
        finally:
            logger.info(
                "upstream %s %s /%s status=%s duration_ms=%.1f attempt=%d",
                self.name,
                method,
                path.lstrip("/"),
                status,
                (time.perf_counter() - started) * 1000,
                attempt,
            )

        if 200 <= response.status < 300:
            self._record(failed=False)
            return body
        self._raise_for_status(response.status, body, method, path)
        raise AssertionError("unreachable")

    async def _read_body(self, response: aiohttp.ClientResponse, path: str) -> bytes:
        limit = self.config.max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise UpstreamBadResponseError(
                f"{self.name}: response to /{path.lstrip('/')} is {response.content_length} bytes, more than "
                f"{limit} (FISHWATCH_UPSTREAM_MAX_RESPONSE_BYTES)",
                subsystem=self.name,
            )
        chunks: list[bytes] = []
        size = 0
        # StreamReader.read(n) returns what is buffered, so read until EOF or past the limit.
        while size <= limit:
            chunk = await response.content.read(min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
        if len(body) > limit:
            raise UpstreamBadResponseError(
                f"{self.name}: response to /{path.lstrip('/')} is larger than {limit} bytes "
                "(FISHWATCH_UPSTREAM_MAX_RESPONSE_BYTES)",
                subsystem=self.name,
            )
        return body

    def _raise_for_status(self, status: int, body: bytes, method: str, path: str) -> None:
        upstream = _upstream_message(body)
        what = f"{self.name} returned {status} for {method} /{path.lstrip('/')}"
        message = f"{what}: {upstream}" if upstream else what
        if status >= 500 or status in _RETRYABLE_STATUSES:
            self._record(failed=True)
            raise UpstreamUnavailableError(message, subsystem=self.name, status=status)
        self._record(failed=False)
        if status == 404:
            raise UpstreamNotFoundError(message, subsystem=self.name)
        if status == 409:
            raise UpstreamConflictError(message, subsystem=self.name)
        raise UpstreamRejectedError(message, subsystem=self.name, status=status)

    def _record(self, *, failed: bool) -> None:
        if failed:
            self.stats.failures += 1
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def _validate(self, body: bytes, model: Any, method: str, path: str) -> Any:
        where = f"{method} /{path.lstrip('/')}"
        try:
            return _adapter(model).validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            location = ".".join(str(part) for part in first["loc"]) or "<body>"
            raise UpstreamBadResponseError(
                f"{self.name} returned an invalid payload for {where}: {location}: {first['msg']}",
                subsystem=self.name,
            ) from exc


class PagedConnector(Connector):
    """A connector for the Fish Watch REST APIs, whose lists page with `limit` and `cursor`."""

    def __init__(self, config: ConnectorConfig, *, page_size: int = 500, max_items: int = 20000) -> None:
        super().__init__(config)
        self.page_size = page_size
        self.max_items = max_items

    async def page(
        self, path: str, item_model: Any, params: QueryParams | None = None, *, limit: int, cursor: str | None
    ) -> Page[Any]:
        """Fetch one page of a list endpoint."""
        query = dict(params or {})
        query["limit"] = limit
        query["cursor"] = cursor
        result: Page[Any] = await self.call("GET", path, Page[item_model], params=query)
        return result

    async def list_all(self, path: str, item_model: Any, params: QueryParams | None = None) -> list[Any]:
        """Follow `next_cursor` and return every item, up to `max_items`.

        Raises UpstreamBadResponseError past `max_items`, because a silently truncated list
        would make counts and aggregates wrong without anyone noticing.
        """
        items: list[Any] = []
        cursor: str | None = None
        while True:
            page = await self.page(path, item_model, params, limit=self.page_size, cursor=cursor)
            items.extend(page.items)
            if len(items) > self.max_items:
                raise UpstreamBadResponseError(
                    f"{self.name}: /{path.lstrip('/')} lists more than {self.max_items} items "
                    "(FISHWATCH_UPSTREAM_MAX_ITEMS); narrow the query",
                    subsystem=self.name,
                )
            if not page.next_cursor:
                return items
            cursor = page.next_cursor
