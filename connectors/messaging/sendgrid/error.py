"""SendGrid's failed answers (`{"errors": [{"message", "field", "help"}]}`) as our MessagingError."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from connectors.messaging.base import MessagingError, refusal_error
from connectors.messaging.sendgrid.models import ErrorResponse
from connectors.messaging.sendgrid.units import refusal_for


def sendgrid_error(status: int, body: dict[str, Any]) -> MessagingError:
    try:
        errors = ErrorResponse.model_validate(body).errors
    except ValidationError:
        errors = []
    first = errors[0] if errors else None
    field = first.field if first else None
    words = "; ".join(
        f"{e.field}: {e.message}" if e.field else (e.message or "") for e in errors if e.message or e.field
    )
    return refusal_error("SendGrid", words, status, refusal_for(status, field))
