"""Wire shapes shared by the Core, Data Acquisition, Data Fabric and Alerting APIs."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

ItemT = TypeVar("ItemT")


class Payload(BaseModel):
    """Base of every upstream payload model: ignores unknown fields, never mutated."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Page(Payload, Generic[ItemT]):
    """One page of a list endpoint: `items` and the cursor of the next page, if any."""

    items: list[ItemT]
    next_cursor: str | None = None
