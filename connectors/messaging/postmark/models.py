"""Postmark Email API objects, with Postmark's field names (PascalCase)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Email(_Model):
    """The body of `POST /email`. `Metadata` comes back on every webhook of the message."""

    From: str
    To: str
    Subject: str | None = None
    HtmlBody: str | None = None
    TextBody: str | None = None
    MessageStream: str | None = None
    Metadata: dict[str, str] | None = None


class SendResponse(_Model):
    """Postmark's answer to `POST /email`; `ErrorCode` 0 and `Message` "OK" on success."""

    To: str | None = None
    SubmittedAt: str | None = None
    MessageID: str | None = None
    ErrorCode: int | None = None
    Message: str | None = None
