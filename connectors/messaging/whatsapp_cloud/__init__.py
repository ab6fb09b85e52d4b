"""WhatsApp through Meta's WhatsApp Cloud API, approved templates only: `units` (Graph error code ->
outcome), `models`, `mapper` (OutgoingMessage -> template message), `error`, `proxy`
(`WhatsAppCloudSender`).

`POST {base}/{version}/{phone_number_id}/messages`, `Authorization: Bearer <access token>`, JSON
`messaging_product: "whatsapp"`, `type: "template"`, `template: {name, language: {code}, components}`,
our idempotency key in `biz_opaque_callback_data`; `messages[0].id` on success, `error.code` on failure.

Delivery callbacks: `webhook` (verify, then parse) and `units_events` (their words -> our delivery status).
"""

from __future__ import annotations

from connectors.messaging.whatsapp_cloud.mapper import template_message
from connectors.messaging.whatsapp_cloud.proxy import DEFAULT_VERSION, WhatsAppCloudSender
from connectors.messaging.whatsapp_cloud.units import CODES, refusal_for

__all__ = ["CODES", "DEFAULT_VERSION", "WhatsAppCloudSender", "refusal_for", "template_message"]
