"""WhatsApp Cloud API message objects, with Meta's field names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextParameter(_Model):
    type: Literal["text"] = "text"
    text: str


class Component(_Model):
    type: Literal["body"] = "body"
    parameters: list[TextParameter]


class Language(_Model):
    code: str


class Template(_Model):
    name: str
    language: Language
    components: list[Component] | None = None


class TemplateMessage(_Model):
    """The body of `POST /{version}/{phone_number_id}/messages` for an approved template.
    `biz_opaque_callback_data` comes back on the message's status webhooks."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    type: Literal["template"] = "template"
    template: Template
    biz_opaque_callback_data: str | None = None


class Contact(_Model):
    input: str | None = None
    wa_id: str | None = None


class SentMessage(_Model):
    id: str | None = None
    message_status: str | None = None


class SendResponse(_Model):
    messaging_product: str | None = None
    contacts: list[Contact] = []
    messages: list[SentMessage] = []


class ErrorData(_Model):
    messaging_product: str | None = None
    details: str | None = None


class GraphError(_Model):
    message: str | None = None
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: ErrorData | None = None
    fbtrace_id: str | None = None


class ErrorResponse(_Model):
    error: GraphError
