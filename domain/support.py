"""Who acts on an order (support staff, merchants, engineers, admins) and the record each action leaves."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class Role(StrEnum):
    SUPPORT = "support"
    MERCHANT = "merchant"
    ENGINEER = "engineer"
    ADMIN = "admin"


class Actor(BaseModel):
    """The person (or token) behind a request: its name, and the role its token was given."""

    name: str = Field(min_length=1, max_length=128)
    role: Role
    merchant_id: str | None = Field(default=None, description="a merchant token acts on this merchant's orders only")


class AuditEntry(BaseModel):
    """One action on an order: who, when, what, the result, and the journey's state before and after.

    `entry_id` is unique (journey id + update id), so recording the same action twice keeps one row.
    """

    entry_id: str
    merchant_id: str
    order_id: str
    action: str
    actor: Actor
    at: datetime
    outcome: Literal["done", "refused", "failed", "unknown", "timed_out"] = Field(
        description="done; refused (409/422); failed (a provider or Temporal failed the person); unknown (a "
        "refund the provider did not confirm, held until looked up); timed_out (no answer in time: it may complete)"
    )
    request: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
