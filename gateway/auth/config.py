"""Settings models of the authentication layer that nest inside `gateway.settings.Settings`."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

CallerKind = Literal["anonymous", "user", "client", "subsystem"]


class IssuerSettings(BaseModel):
    """An external identity provider whose access tokens sign dashboard users in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    jwks_url: AnyHttpUrl
    # Only these may verify; `none` and HMAC algorithms are rejected at start-up.
    algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    # Claim with the granted scopes, as a space-separated string or a list.
    scopes_claim: str = "scope"
    # Claim with the farm ids the user may see, and claim with the organization ids.
    farms_claim: str | None = "farms"
    organizations_claim: str | None = "org"
    # Scopes every user of this issuer gets in addition to the token's own.
    default_scopes: list[str] = Field(default_factory=list)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        from gateway.auth.jwt import SUPPORTED_ALGORITHMS

        bad = [name for name in value if name not in SUPPORTED_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"algorithms {bad or value} are not accepted; use asymmetric ones: {sorted(SUPPORTED_ALGORITHMS)}"
            )
        return value
