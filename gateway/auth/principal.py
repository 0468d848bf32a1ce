"""The authenticated caller of one request, as resolvers and limits see it."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.config import CallerKind


@dataclass(frozen=True)
class Principal:
    """The caller: its kind and identity, its `scopes`, and the tenants whose data it may see.

    `farm_ids` and `organization_ids` of None mean every farm; empty sets mean none. A farm is
    visible when its id is in `farm_ids` or its organization is in `organization_ids`.
    """

    kind: CallerKind
    subject: str
    scopes: frozenset[str]
    farm_ids: frozenset[str] | None = frozenset()
    organization_ids: frozenset[str] | None = frozenset()
    client_id: str | None = None
    token_id: str | None = None
    issuer: str | None = None
    expires_at: float | None = None

    @property
    def sees_all_farms(self) -> bool:
        return self.farm_ids is None or self.organization_ids is None

    @property
    def label(self) -> str:
        """Short caller name for logs: kind and client id or subject."""
        return f"{self.kind}:{self.client_id or self.subject}"


def anonymous_principal(scopes: frozenset[str]) -> Principal:
    """Build the principal of a request without a token when anonymous callers are allowed.

    Anonymous callers see every farm; the setting that allows them is only on by default when
    the whole deployment is the embedded sandbox on loopback.
    """
    return Principal(kind="anonymous", subject="anonymous", scopes=scopes, farm_ids=None, organization_ids=None)
