"""Twilio's failed answers (`{"code", "message", "more_info", "status"}`) as our MessagingError."""

from __future__ import annotations

from typing import Any

from connectors.messaging.base import MessagingError
from connectors.messaging.twilio.units import PERMANENT_CODES, RECIPIENT_CODES, RECIPIENT_SUPPRESSIONS, TEMPORARY_CODES


def twilio_error(status: int, body: dict[str, Any]) -> MessagingError:
    """Twilio's error JSON to a MessagingError; the code decides, the HTTP status is the fallback."""
    raw_code = body.get("code")
    code = int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
    text = str(body.get("message") or "")
    label = f"Twilio error {code}" if code is not None else f"Twilio HTTP {status}"
    if code in PERMANENT_CODES:
        known = PERMANENT_CODES[code]
        return MessagingError(
            f"{label}: {f'{text}; {known}' if text else known} (HTTP {status})",
            retryable=False,
            recipient_fault=code in RECIPIENT_CODES,
            suppression=RECIPIENT_SUPPRESSIONS.get(code),
        )
    if code in TEMPORARY_CODES:
        retryable = True
        text = text or TEMPORARY_CODES[code]
    else:
        retryable = status == 429 or status >= 500
    return MessagingError(f"{label}: {text or 'no details'} (HTTP {status})", retryable=retryable)
