"""The built-in authorization server's endpoints for machine clients.

- `POST /oauth/token`: client credentials grant (RFC 6749 §4.4), client authentication by
  client_secret_basic or client_secret_post (§2.3.1), errors per §5.2.
- `POST /oauth/introspect` (RFC 7662) and `POST /oauth/revoke` (RFC 7009), for authenticated clients.
- `GET /.well-known/jwks.json` and `GET /.well-known/oauth-authorization-server` (RFC 8414).

Protocol errors are Authlib's RFC 6749 error classes, rendered by `_error_response`.
Authlib's `AuthorizationServer` is not used because its client lookups are synchronous and the
client store here is async (Redis).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import InvalidTokenError
from gateway.auth.audit import audit_denied, audit_event
from gateway.auth.client_secrets import dummy_hash, verify_secret
from gateway.auth.clients import ClientRecord, ClientStore
from gateway.auth.tokens import TokenIssuer, TokenVerifier

logger = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
# RFC 6749 §5.1 and §5.2: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_PATH = "/oauth/token"
INTROSPECT_PATH = "/oauth/introspect"
REVOKE_PATH = "/oauth/revoke"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"


def _printable(text: str) -> str:
    """Keep only the characters RFC 6749 §5.2 allows in error_description, at most 200 of them."""
    return "".join(char for char in text if 0x20 <= ord(char) <= 0x7E and char not in '"\\')[:200]


def _error_response(error: OAuth2Error) -> Response:
    status, body, headers = error()
    merged = {name: value for name, value in headers if name.lower() != "content-type"}
    return JSONResponse(body, status_code=status, headers={**merged, **NO_STORE})


class AuthorizationServer:
    """Serves the OAuth endpoints over the client store, token issuer and verifier."""

    def __init__(
        self,
        clients: ClientStore,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        scopes_supported: list[str],
        max_form_bytes: int = 8192,
        max_concurrent_secret_checks: int = 4,
    ) -> None:
        self.clients = clients
        self.issuer = issuer
        self.verifier = verifier
        self.scopes_supported = scopes_supported
        self.max_form_bytes = max_form_bytes
        # Each scrypt check takes tens of milliseconds of CPU; bounding them keeps a flood of token
        # requests from starving GraphQL requests on the same process.
        self.secret_checks = asyncio.Semaphore(max_concurrent_secret_checks)

    async def _form(self, request: Request) -> dict[str, str]:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != FORM:
            raise InvalidRequestError(f"send the parameters as {FORM}")
        body = await request.body()
        if len(body) > self.max_form_bytes:
            raise InvalidRequestError(f"the form is larger than {self.max_form_bytes} bytes")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequestError("the form body is not valid URL-encoded UTF-8") from exc
        form: dict[str, str] = {}
        for name, value in pairs:
            # RFC 6749 §3.2: a parameter must not be sent more than once.
            if name in form:
                raise InvalidRequestError(f"the parameter {name} is repeated")
            form[name] = value
        return form

    async def _authenticate_client(self, request: Request, form: dict[str, str]) -> ClientRecord:
        """Authenticate by client_secret_basic or client_secret_post; raise InvalidClientError."""
        basic_id, basic_secret = extract_basic_authorization(request.headers)
        header = request.headers.get("authorization")
        posted = "client_id" in form or "client_secret" in form
        if header and posted:
            raise InvalidRequestError("authenticate the client by one method only, Basic or form parameters")
        used_basic = header is not None
        if used_basic:
            client_id, secret = basic_id, basic_secret
        else:
            client_id, secret = form.pop("client_id", None), form.pop("client_secret", None)

        def reject(description: str, challenge: bool) -> InvalidClientError:
            error = InvalidClientError(description)
            # RFC 6749 §5.2: a failed Basic authentication, or none at all, gets 401 and Authlib
            # then adds the WWW-Authenticate challenge; failed form credentials get 400.
            if challenge:
                error.status_code = 401
            audit_denied(None, _printable(client_id or "-")[:64], request.url.path, "invalid_client")
            return error

        if not client_id or secret is None:
            raise reject("client authentication failed: send client_id and client_secret", challenge=True)
        client = await self.clients.get(client_id)
        # The hash is checked even for unknown clients, so timing does not tell which ids exist.
        stored = client.secret_hash if client is not None else dummy_hash()
        async with self.secret_checks:
            matches = await asyncio.to_thread(verify_secret, secret, stored)
        if client is None or not matches or client.disabled:
            raise reject("client authentication failed", challenge=used_basic)
        return client

    async def token(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            form = await self._form(request)
            client = await self._authenticate_client(request, form)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise InvalidRequestError("missing grant_type; this server supports client_credentials")
            if grant_type != "client_credentials":
                raise UnsupportedGrantTypeError(grant_type[:64])
            requested = scope_to_list(form.get("scope")) or list(client.scopes)
            not_granted = [scope for scope in requested if scope not in client.scopes]
            if not_granted:
                audit_denied(
                    None, client.client_id, "oauth.token", f"invalid_scope {_printable(' '.join(not_granted))}"
                )
                raise InvalidScopeError(f"the client may not request: {_printable(' '.join(not_granted))}")
            issued = self.issuer.issue(client, requested)
        except OAuth2Error as exc:
            return _error_response(exc)
        audit_event(
            "token issued",
            client.client_id,
            "oauth.token",
            "ok",
            scopes=" ".join(issued.scopes),
            jti=issued.token_id,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return JSONResponse(
            {
                "access_token": issued.value,
                "token_type": "Bearer",
                "expires_in": issued.expires_in_s,
                "scope": " ".join(issued.scopes),
            },
            headers=NO_STORE,
        )

    async def _token_claims(self, token: str) -> dict[str, Any] | None:
        try:
            return await self.verifier.own_claims(token)
        except InvalidTokenError:
            return None

    async def introspect(self, request: Request) -> Response:
        try:
            form = await self._form(request)
            client = await self._authenticate_client(request, form)
            token = form.get("token")
            if not token:
                raise InvalidRequestError("missing the token parameter")
        except OAuth2Error as exc:
            return _error_response(exc)
        claims = await self._token_claims(token)
        # RFC 7662 §2.2 and §4: a token of another client is reported as inactive, so a client
        # cannot learn about tokens it was not issued. Subsystems may introspect any token.
        if claims is None or (client.kind != "subsystem" and claims.get("client_id") != client.client_id):
            return JSONResponse({"active": False}, headers=NO_STORE)
        body = {"active": True, "token_type": "Bearer"}
        body.update(
            {
                name: claims[name]
                for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
                if name in claims
            }
        )
        return JSONResponse(body, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        try:
            form = await self._form(request)
            client = await self._authenticate_client(request, form)
            token = form.get("token")
            if not token:
                raise InvalidRequestError("missing the token parameter")
        except OAuth2Error as exc:
            return _error_response(exc)
        claims = await self._token_claims(token)
        # RFC 7009 §2.2: an invalid or unknown token also gets 200, so the response reveals nothing.
        if claims is not None and claims.get("client_id") == client.client_id:
            await self.verifier.revocations.revoke(str(claims["jti"]), float(claims["exp"]))
            audit_event("token revoked", client.client_id, "oauth.revoke", "ok", jti=claims["jti"])
        return Response(status_code=200, headers=NO_STORE)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(
            self.issuer.keys.jwks(),
            headers={"Cache-Control": "public, max-age=300"},
            media_type="application/jwk-set+json",
        )

    async def metadata(self, request: Request) -> Response:
        base = self.issuer.issuer.rstrip("/")
        methods = ["client_secret_basic", "client_secret_post"]
        return JSONResponse(
            {
                "issuer": self.issuer.issuer,
                "token_endpoint": base + TOKEN_PATH,
                "jwks_uri": base + JWKS_PATH,
                "introspection_endpoint": base + INTROSPECT_PATH,
                "revocation_endpoint": base + REVOKE_PATH,
                "grant_types_supported": ["client_credentials"],
                # No authorization endpoint, so no response type is supported.
                "response_types_supported": [],
                "token_endpoint_auth_methods_supported": methods,
                "introspection_endpoint_auth_methods_supported": methods,
                "revocation_endpoint_auth_methods_supported": methods,
                "scopes_supported": self.scopes_supported,
            }
        )
