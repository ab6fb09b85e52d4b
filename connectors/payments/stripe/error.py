"""Stripe's failed answers (`{"error": {"type", "code", "message", "param"}}`) as our PaymentError."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.payments.base import PaymentError


def http_error(resp: httpx.Response, what: str, idempotency_key: str) -> PaymentError:
    """One PaymentError per HTTP failure, retryable only when asking again with the same key can help."""
    err: dict[str, Any] = {}
    try:
        body = resp.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
    except ValueError:
        pass
    status = resp.status_code
    message = str(err.get("message") or "").strip()
    kind = str(err.get("type") or "")
    code = str(err.get("code") or kind) or None
    said = f": {code} — {message}" if code and message else f": {message or code}" if message or code else ""
    if not err and status == 404:
        text = f"Stripe API not found at {resp.request.url} (HTTP 404): check the Stripe base URL"
        return PaymentError(text, retryable=False, status_code=status)
    if status == 401:
        text, retryable = f"Stripe rejected the API key (HTTP 401){said}; check the Stripe secret key", False
    elif status == 403:
        text, retryable = f"Stripe's API key may not refund {what} (HTTP 403){said}", False
    elif kind == "idempotency_error":
        text = (
            f"Stripe refused the refund of {what}: idempotency key {idempotency_key!r} was already used "
            f"for a different request{said}"
        )
        retryable = False
    elif status == 409:
        # `idempotency_key_in_use`: a request with this key is still running at Stripe (e.g. the
        # attempt that timed out). Asking again later returns that request's answer.
        text = (
            f"Stripe is still working on an earlier request with idempotency key {idempotency_key!r} "
            f"refunding {what} (HTTP 409){said}"
        )
        retryable = True
    elif status == 429:
        text, retryable = f"Stripe rate limit reached refunding {what} (HTTP 429){said}", True
    elif status >= 500:
        text, retryable = f"Stripe failed with HTTP {status} refunding {what}{said}", True
    else:
        text, retryable = f"Stripe refused the refund of {what}{said}", False
    return PaymentError(text, retryable=retryable, code=code, status_code=status)
