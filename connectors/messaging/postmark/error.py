"""Postmark's failed answers (`{"ErrorCode", "Message"}`) as our MessagingError."""

from __future__ import annotations

from typing import Any

from connectors.messaging.base import MessagingError, refusal_error
from connectors.messaging.postmark.units import refusal_for


def postmark_error(status: int, body: dict[str, Any]) -> MessagingError:
    raw = body.get("ErrorCode")
    code = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    text = str(body.get("Message") or "")
    label = f"Postmark error {code}" if code is not None else "Postmark"
    return refusal_error(label, text, status, refusal_for(code, text))
