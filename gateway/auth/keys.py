"""The built-in authorization server's key ring: one key signs, every listed key verifies.

Rotation: put the new key's file first in `oauth_signing_key_files` and keep the old one after
it. New tokens are signed with the new key. Tokens signed with the old key still verify, and its
public half stays in the JWKS, until the old file is removed. Remove it once `oauth_token_ttl_s`
has passed since the switch, because by then every token it signed has expired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import AuthConfigError
from gateway.auth.jwt import SigningKey, VerificationKey, generate_signing_key, load_signing_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyRing:
    """The current signing key and every key that still verifies, by key id."""

    signing: SigningKey
    verifying: dict[str, VerificationKey]

    def jwks(self) -> dict[str, Any]:
        """Return the public keys as a JWK Set (RFC 7517 §5), the signing key first."""
        ordered = [self.signing.verification, *(key for kid, key in self.verifying.items() if kid != self.signing.kid)]
        return {"keys": [key.public_jwk for key in ordered]}


def load_key_ring(paths: list[str], generate_algorithm: str = "RS256") -> KeyRing:
    """Load the PEM private keys in `paths` (the first signs), or generate one when none is given.

    A generated key lives only in this process, so its tokens die with it and other replicas
    cannot verify them. That suits the embedded default, and it is logged as a warning.
    """
    if not paths:
        signing = generate_signing_key(generate_algorithm)
        logger.warning(
            "no FISHWATCH_OAUTH_SIGNING_KEY_FILES: generated a %s signing key (kid %s) for this process only; "
            "tokens it signs stop verifying on restart and on other replicas",
            signing.algorithm,
            signing.kid,
        )
        return KeyRing(signing, {signing.kid: signing.verification})
    keys: list[SigningKey] = []
    for path in paths:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise AuthConfigError(
                f"cannot read the signing key file '{path}' listed in FISHWATCH_OAUTH_SIGNING_KEY_FILES: {exc.strerror}"
            ) from exc
        try:
            keys.append(load_signing_key(pem))
        except AuthConfigError as exc:
            raise AuthConfigError(f"signing key file '{path}': {exc.message}") from exc
    verifying = {key.kid: key.verification for key in keys}
    logger.info(
        "signing tokens with key %s (%s); %d more key(s) verify only", keys[0].kid, keys[0].algorithm, len(keys) - 1
    )
    return KeyRing(keys[0], verifying)
