"""The request bodies of the EasyPost sandbox controls, in EasyPost's words (the carrier side, not ours)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class Scan(BaseModel):
    """One carrier scan in EasyPost's words (not ours: this is the carrier side)."""

    status: str
    status_detail: str | None = None
    message: str | None = None
    datetime: dt.datetime | None = None
    est_delivery_date: dt.datetime | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip: str | None = None
    carrier: str | None = None
    signed_by: str | None = None
    deliver_webhook: bool = True


class ScriptStep(Scan):
    after_seconds: float = Field(default=0, ge=0, description="wait this long after the previous step")


class Script(BaseModel):
    steps: list[ScriptStep] = Field(min_length=1)
    deliver_webhook: bool = True


class ApiFail(BaseModel):
    """The next EasyPost API calls answer this HTTP status (429, 500, 503...) instead of working."""

    status_code: int = Field(default=500, ge=400, le=599)
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0, ge=0, description="answer this late (to test timeouts)")


class SinkFail(BaseModel):
    count: int = Field(default=1, ge=0, description="answer 503 to this many next deliveries")
