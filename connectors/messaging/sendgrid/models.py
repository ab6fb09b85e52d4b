"""SendGrid v3 Mail Send objects, with SendGrid's field names (`from` is `from_` here, by alias)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EmailAddress(_Model):
    email: str
    name: str | None = None


class Personalization(_Model):
    to: list[EmailAddress]
    subject: str | None = None
    custom_args: dict[str, str] | None = None


class Content(_Model):
    type: str
    value: str


class MailSend(_Model):
    """The body of `POST /v3/mail/send`. `custom_args` come back on every event of the message."""

    personalizations: list[Personalization]
    from_: EmailAddress = Field(alias="from")
    subject: str | None = None
    content: list[Content] = []
    custom_args: dict[str, str] | None = None


class ErrorItem(_Model):
    message: str | None = None
    field: str | None = None
    help: str | None = None


class ErrorResponse(_Model):
    errors: list[ErrorItem] = []
