"""Tokens verified before, kept so a client that sends the same token again skips the signature.

The key is the whole token string, signature included, so a changed token never matches. An
entry is used until the token expires (plus the leeway) or `ttl_s` after it was verified,
whichever comes first. The TTL bounds how long a token signed by a key that its identity
provider has since withdrawn stays accepted. Revocation is not cached (see `TokenVerifier`).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from gateway.auth.principal import Principal


class VerifiedTokenCache:
    """An LRU of verified tokens' principals; `max_entries` of 0 turns it off."""

    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        entry = self.entries.get(token)
        if entry is None:
            return None
        principal, valid_until = entry
        if time.time() >= valid_until:
            del self.entries[token]
            return None
        self.entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if self.max_entries <= 0:
            return
        self.entries[token] = (principal, min(expires_at, time.time() + self.ttl_s))
        self.entries.move_to_end(token)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
