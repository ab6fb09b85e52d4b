"""The Graph API's failed answers (`{"error": {"message", "type", "code", "error_data", ...}}`) as our
MessagingError."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from connectors.messaging.base import MessagingError, refusal_error
from connectors.messaging.whatsapp_cloud.models import ErrorResponse
from connectors.messaging.whatsapp_cloud.units import refusal_for


def whatsapp_error(status: int, body: dict[str, Any]) -> MessagingError:
    try:
        error = ErrorResponse.model_validate(body).error
    except ValidationError:
        return refusal_error("WhatsApp Cloud API", "", status, None)
    details = error.error_data.details if error.error_data else None
    text = "; ".join(part for part in (error.message, details) if part)
    label = f"WhatsApp Cloud API error {error.code}" if error.code is not None else "WhatsApp Cloud API"
    return refusal_error(label, text, status, refusal_for(error.code))
