"""Client secrets: generation, salted scrypt hashes and constant-time checks."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# scrypt cost (RFC 7914): N=2^14, r=8, p=1 takes about 16 MiB and tens of milliseconds per check,
# which bounds offline guessing of a leaked store. Token requests are rare, so the cost is paid
# once per token, not per API call.
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_SECRET_BYTES = 32


@functools.cache
def dummy_hash() -> str:
    """Return a hash of a random secret, checked for unknown client ids to keep timing uniform."""
    return hash_secret(new_secret())


def new_secret() -> str:
    """Return a fresh client secret: 32 random bytes, base64url."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """Hash a secret as `scrypt$N$r$p$salt$hash` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Tell whether `secret` matches a stored hash; compares in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            secret.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
