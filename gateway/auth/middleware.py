"""ASGI middleware: rate limits, bearer-token authentication and route scopes for HTTP requests.

Steps per request: count it against the client IP's limit, before any token work, so floods of
forged tokens cost little. Then authenticate the bearer token into a `Principal`, count the
request against the caller's own limit, check the route's scope, and hand the principal on in
`scope["state"]["principal"]`. Rejections get 401, 403 or 429 with a GraphQL-shaped JSON body
and, for 401 and 403, a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). WebSocket
connections pass through: they authenticate in `connection_init` (see `gateway.auth.websocket`).
"""

from __future__ import annotations

import json
import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import AuthError, ForbiddenError, InvalidTokenError, MissingTokenError, RateLimitedError
from gateway.auth.audit import audit_denied
from gateway.auth.principal import Principal, anonymous_principal
from gateway.auth.ratelimit import RateDecision
from gateway.auth.runtime import AuthServices

logger = logging.getLogger(__name__)

REALM = "fishwatch"
# Paths served without a token: health checks (not rate limited either), the OAuth endpoints
# (which authenticate clients themselves) and the discovery documents.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
PUBLIC_PREFIXES = ("/oauth/", "/.well-known/")
# Routes outside GraphQL that need a scope of their own.
ROUTE_SCOPES = {"/events": "events:publish"}
_UNSAFE_CHALLENGE_CHARACTERS = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def bearer_challenge(error: AuthError | None) -> str:
    """Build the WWW-Authenticate value for `error` (RFC 6750 §3); no error code when none was sent."""
    parts = [f'realm="{REALM}"']
    if error is not None and error.oauth_error is not None:
        description = _UNSAFE_CHALLENGE_CHARACTERS.sub("", error.message)[:200]
        parts += [f'error="{error.oauth_error}"', f'error_description="{description}"']
        if isinstance(error, ForbiddenError):
            parts.append(f'scope="{" ".join(error.details.get("missing_scopes", []))}"')
    return "Bearer " + ", ".join(parts)


async def _send_error(send: Send, error: AuthError | RateLimitedError, headers: dict[str, str]) -> None:
    body = json.dumps({"errors": [{"message": error.message, "extensions": error.extensions}]}).encode()
    raw_headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.http_status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _tightest(decisions: list[RateDecision]) -> RateDecision:
    return min(decisions, key=lambda decision: (decision.allowed, decision.remaining))


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def authenticate(auth: AuthServices, authorization: str | None) -> Principal:
    """Turn an Authorization header value into a principal; raise MissingTokenError or InvalidTokenError."""
    if not authorization:
        if auth.anonymous_scopes is not None:
            return anonymous_principal(auth.anonymous_scopes)
        raise MissingTokenError("this gateway requires an access token; send it as 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("the Authorization header must be 'Bearer <token>'")
    return await auth.verifier.verify(token.strip())


class AuthenticationMiddleware:
    """Rate-limit, authenticate and authorize every HTTP request; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        services = getattr(scope["app"].state, "services", None)
        auth: AuthServices | None = getattr(services, "auth", None)
        if auth is None:
            await self.app(scope, receive, send)
            return
        settings = auth.settings

        # 1. The client address's limit, before any token work.
        decisions = [await auth.limiter.hit("ip", client_address(scope), settings.rate_limit_ip_requests)]
        if not decisions[0].allowed:
            await self._reject_rate(send, decisions[0], f"ip:{client_address(scope)}", path)
            return

        # 2. Authentication, except on the public OAuth and discovery paths.
        principal: Principal | None = None
        if not path.startswith(PUBLIC_PREFIXES):
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            try:
                principal = await authenticate(auth, authorization)
            except AuthError as exc:
                audit_denied(None, f"ip:{client_address(scope)}", f"{scope['method']} {path}", exc.code)
                await _send_error(send, exc, {"WWW-Authenticate": bearer_challenge(exc), **decisions[0].headers()})
                return

            # 3. The caller's own limit.
            if principal.kind != "anonymous":
                identity = principal.client_id or f"{principal.issuer}|{principal.subject}"
                decisions.append(await auth.limiter.hit("client", identity, settings.rate_limit_client_requests))
                if not decisions[-1].allowed:
                    await self._reject_rate(send, decisions[-1], principal.label, path)
                    return

            # 4. Route scopes outside GraphQL.
            required = ROUTE_SCOPES.get(path)
            if required is not None and required not in principal.scopes:
                error = ForbiddenError(f"{path} requires the scope {required}", missing_scopes=[required])
                audit_denied(principal.label, principal.label, f"{scope['method']} {path}", error.code)
                await _send_error(send, error, {"WWW-Authenticate": bearer_challenge(error)})
                return
            scope.setdefault("state", {})["principal"] = principal

        shown = _tightest(decisions).headers()
        extra = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in shown.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _reject_rate(send: Send, decision: RateDecision, who: str, path: str) -> None:
        audit_denied(who, who, path, "RATE_LIMITED")
        error = RateLimitedError(
            f"rate limit of {decision.limit} requests per {decision.window_s} s exceeded; "
            f"retry after {decision.reset_s} s",
            retry_after_s=decision.reset_s,
        )
        await _send_error(send, error, decision.headers())
