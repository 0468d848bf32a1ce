"""Authentication of GraphQL WebSocket connections in `connection_init`, for both protocols.

The middleware accepts the handshake itself with the subprotocol the GraphQL endpoint would
pick, reads the first message and requires it to be `connection_init` whose payload carries
`Authorization: Bearer <token>` (the handshake's own Authorization header also counts). A bad
or missing token closes the connection with 4403 on both graphql-transport-ws and graphql-ws,
and any other first message closes it (4401 on graphql-transport-ws, as that protocol requires,
and 4403 on graphql-ws), so no operation runs before authentication. Then the endpoint receives the
handshake and `connection_init` replayed, with the principal in `scope["state"]`.

While the connection is open, a watchdog closes it with 4403 when the token expires or is
revoked (checked every `ws_token_recheck_s`), which ends every subscription on it. Open
connections are counted per caller, in this process, against `ws_max_connections_per_client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import AuthError
from gateway.auth.audit import audit_denied
from gateway.auth.middleware import authenticate, client_address
from gateway.auth.principal import Principal
from gateway.auth.runtime import AuthServices

logger = logging.getLogger(__name__)

PROTOCOLS = ("graphql-transport-ws", "graphql-ws")
CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHORIZED = 4401
CLOSE_INIT_TIMEOUT = 4408
CLOSE_TOO_MANY = 4429
_DISCONNECT: Message = {"type": "websocket.disconnect", "code": CLOSE_FORBIDDEN}


def _pick_protocol(scope: Scope) -> str | None:
    """Pick the client's most preferred protocol the endpoint speaks, as Strawberry does."""
    for protocol in scope.get("subprotocols") or []:
        if protocol in PROTOCOLS:
            return str(protocol)
    return None


def _authorization(payload: Any, scope: Scope) -> str | None:
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                return value
    header = dict(scope.get("headers") or []).get(b"authorization")
    return header.decode("latin-1") if header else None


class WebSocketAuthMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.open_connections: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = getattr(scope["app"].state, "services", None) if "app" in scope else None
        auth: AuthServices | None = getattr(services, "auth", None)
        if scope["type"] != "websocket" or auth is None:
            await self.app(scope, receive, send)
            return
        settings = auth.settings

        # 1. The handshake: accept it with the endpoint's protocol, or let the endpoint reject it.
        connect = await receive()
        protocol = _pick_protocol(scope)
        if connect["type"] != "websocket.connect" or protocol is None:
            replayed = deque([connect])

            async def replay_receive() -> Message:
                return replayed.popleft() if replayed else await receive()

            await self.app(scope, replay_receive, send)
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})

        # 2. The first message must be connection_init with a valid token.
        try:
            first = await asyncio.wait_for(receive(), settings.ws_connection_init_timeout_s)
        except TimeoutError:
            await send(
                {"type": "websocket.close", "code": CLOSE_INIT_TIMEOUT, "reason": "Connection initialisation timeout"}
            )
            return
        if first["type"] != "websocket.receive":
            return
        try:
            message = json.loads(first.get("text") or first.get("bytes") or b"")
        except ValueError:
            message = None
        who = f"ip:{client_address(scope)}"
        if not isinstance(message, dict) or message.get("type") != "connection_init":
            code = CLOSE_UNAUTHORIZED if protocol == "graphql-transport-ws" else CLOSE_FORBIDDEN
            audit_denied(None, who, "websocket", "CONNECTION_INIT_MISSING")
            await send({"type": "websocket.close", "code": code, "reason": "Unauthorized: send connection_init first"})
            return
        try:
            principal = await authenticate(auth, _authorization(message.get("payload"), scope))
        except AuthError as exc:
            audit_denied(None, who, "websocket", exc.code)
            await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN, "reason": "Forbidden"})
            return
        # Anonymous callers share one principal, so they are counted per address instead.
        caller = who if principal.kind == "anonymous" else principal.label
        if self.open_connections[caller] >= settings.ws_max_connections_per_client:
            audit_denied(principal.label, principal.label, "websocket", "TOO_MANY_CONNECTIONS")
            await send({"type": "websocket.close", "code": CLOSE_TOO_MANY, "reason": "Too many connections"})
            return
        scope.setdefault("state", {})["principal"] = principal

        # 3. Hand the connection to the endpoint, with the watchdog running beside it.
        self.open_connections[caller] += 1
        ended = asyncio.Event()
        watchdog = asyncio.create_task(self._watch(auth, principal, ended, send), name="websocket token watchdog")
        try:
            await self.app(
                scope, self._replaying_receive(deque([connect, first]), receive, ended), self._guarded_send(send, ended)
            )
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            self.open_connections[caller] -= 1
            if self.open_connections[caller] <= 0:
                del self.open_connections[caller]

    @staticmethod
    def _replaying_receive(replayed: deque[Message], receive: Receive, ended: asyncio.Event) -> Receive:
        async def app_receive() -> Message:
            if replayed:
                return replayed.popleft()
            if ended.is_set():
                return _DISCONNECT
            # uvicorn handles the watchdog's websocket.close by queueing websocket.disconnect
            # for this receive, so no task has to race it against the watchdog.
            message = await receive()
            return _DISCONNECT if ended.is_set() else message

        return app_receive

    @staticmethod
    def _guarded_send(send: Send, ended: asyncio.Event) -> Send:
        async def app_send(message: Message) -> None:
            # The handshake was accepted already, and nothing goes out after the watchdog closed.
            if message["type"] == "websocket.accept" or ended.is_set():
                return
            await send(message)

        return app_send

    @staticmethod
    async def _watch(auth: AuthServices, principal: Principal, ended: asyncio.Event, send: Send) -> None:
        recheck_s = auth.settings.ws_token_recheck_s
        while True:
            remaining = (principal.expires_at - time.time()) if principal.expires_at is not None else recheck_s
            if remaining <= 0:
                reason = "token expired"
                break
            await asyncio.sleep(min(remaining, recheck_s))
            if principal.token_id is not None and principal.issuer == auth.verifier.own.issuer:
                if await auth.verifier.revocations.is_revoked(principal.token_id):
                    reason = "token revoked"
                    break
        ended.set()
        logger.info("closing WebSocket of %s: %s", principal.label, reason)
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN, "reason": f"Forbidden: {reason}"})
