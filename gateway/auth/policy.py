"""The anonymous-access policy: whether callers without a token are allowed, and their scopes."""

from __future__ import annotations

import ipaddress
import logging

from common.errors import AuthConfigError
from gateway.settings import SUBSYSTEMS, Settings
from resolvers.permissions import ALL_SCOPES

logger = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def anonymous_scopes(settings: Settings) -> frozenset[str] | None:
    """Return the scopes of callers without a token, or None when they are rejected.

    With `auth_anonymous = "auto"`, anonymous callers are allowed only when every subsystem is
    the embedded sandbox (no subsystem URL set) and the gateway listens on a loopback address:
    that is the first-run demo, which holds only generated data. The decision is logged as a
    warning whenever anonymous callers are allowed.
    """
    embedded = len(settings.missing_subsystems()) == len(SUBSYSTEMS)
    loopback = _is_loopback(settings.host)
    if settings.auth_anonymous == "off":
        allowed, reason = False, "FISHWATCH_AUTH_ANONYMOUS=off"
    elif settings.auth_anonymous == "on":
        allowed, reason = True, "FISHWATCH_AUTH_ANONYMOUS=on"
    else:
        allowed = embedded and loopback
        reason = (
            "every subsystem is the embedded sandbox and the gateway listens on loopback"
            if allowed
            else "FISHWATCH_AUTH_ANONYMOUS=auto and "
            + ("subsystem URLs are configured" if not embedded else f"the gateway listens on {settings.host}")
        )
    if not allowed:
        logger.info("anonymous callers are rejected (%s); send an access token", reason)
        return None
    scopes = ALL_SCOPES if settings.auth_anonymous_scopes is None else frozenset(settings.auth_anonymous_scopes)
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise AuthConfigError(
            f"FISHWATCH_AUTH_ANONYMOUS_SCOPES names unknown scopes {unknown}; known: {' '.join(sorted(ALL_SCOPES))}"
        )
    logger.warning(
        "ANONYMOUS ACCESS IS ON (%s): callers without a token get scopes %s and see every farm; "
        "set FISHWATCH_AUTH_ANONYMOUS=off before exposing this gateway",
        reason,
        " ".join(sorted(scopes)) or "(none)",
    )
    return scopes
