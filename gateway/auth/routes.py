"""Starlette routes of the built-in authorization server; handlers find it in the app's services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.oauth import INTROSPECT_PATH, JWKS_PATH, METADATA_PATH, REVOKE_PATH, TOKEN_PATH


def _endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        server = request.app.state.services.auth.server
        response: Response = await getattr(server, name)(request)
        return response

    handle.__name__ = f"oauth_{name}"
    return handle


def oauth_routes() -> list[Route]:
    """Return the token, introspection, revocation, JWKS and metadata routes."""
    return [
        Route(TOKEN_PATH, _endpoint("token"), methods=["POST"]),
        Route(INTROSPECT_PATH, _endpoint("introspect"), methods=["POST"]),
        Route(REVOKE_PATH, _endpoint("revoke"), methods=["POST"]),
        Route(JWKS_PATH, _endpoint("jwks"), methods=["GET"]),
        Route(METADATA_PATH, _endpoint("metadata"), methods=["GET"]),
    ]
