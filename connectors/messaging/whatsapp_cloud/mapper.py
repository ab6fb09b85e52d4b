"""Our OutgoingMessage -> a WhatsApp Cloud API template message. Pure: no HTTP."""

from __future__ import annotations

from typing import Any

from connectors.messaging.base import OutgoingMessage, OutgoingTemplate
from connectors.messaging.whatsapp_cloud.models import Component, Language, Template, TemplateMessage, TextParameter

WHATSAPP_PREFIX = "whatsapp:"


def template_message(message: OutgoingMessage, template: OutgoingTemplate) -> dict[str, Any]:
    """The JSON body; the body component only when the template takes parameters."""
    components = (
        [Component(parameters=[TextParameter(text=value) for value in template.parameters])]
        if template.parameters
        else None
    )
    body = TemplateMessage(
        to=message.recipient.removeprefix(WHATSAPP_PREFIX),
        template=Template(name=template.name, language=Language(code=template.language), components=components),
        biz_opaque_callback_data=message.idempotency_key,
    )
    return body.model_dump(exclude_none=True)
