"""What every tracking provider's connector does alike: read a vendor's times, give a scan without an id a
stable one, write a place as one line, and say why a call got no answer.

Each vendor's package keeps what is its own (its units table, models, which fields identify a scan, its
error words); this module holds only what reads the same for all of them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.carriers.base import CarrierError, WebhookError


def parse_time(raw: Any) -> datetime | None:
    """An ISO 8601 date or date-time (`Z` or an offset); one without a zone is UTC, as the providers document.
    None for anything else (missing, not text, not a time)."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def instant_key(when: datetime | None, raw: Any) -> str:
    """A scan's time as it goes into its id: the instant in UTC (so two spellings of one moment agree), else the
    vendor's text as it came."""
    return when.astimezone(UTC).isoformat() if when else str(raw or "")


def scan_id(vendor: str, *parts: str) -> str:
    """A stable event id from the fields that identify a scan: the same by poll and by push."""
    return f"{vendor}:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def place(*parts: Any, postal: Any = None) -> str | None:
    """`City, State, Country 12345` from the parts a vendor gives (empty ones left out); None when all are."""
    head = ", ".join(str(part) for part in parts if part)
    text = " ".join(p for p in (head, str(postal or "")) if p)
    return text or None


def transport_error(vendor: str, base_url: str, exc: httpx.TransportError, doing: str = "") -> CarrierError:
    """A call that got no answer (a timeout, a refused connection): retryable, naming what we were doing."""
    context = f" {doing}" if doing else ""
    if isinstance(exc, httpx.TimeoutException):
        return CarrierError(f"{vendor} timed out{context} ({type(exc).__name__})", retryable=True)
    return CarrierError(f"{vendor} unreachable at {base_url}{context}: {exc}", retryable=True)


def wrong_base_url(vendor: str, resp: httpx.Response, said: str = "") -> CarrierError:
    """A 404 without the vendor's error body: not the parcel's fault but an address that is not the vendor's API."""
    text = f"{vendor} API not found at {resp.request.url} (HTTP 404){said}: check the {vendor} base URL"
    return CarrierError(text, retryable=False, status_code=resp.status_code)


def json_body(resp: httpx.Response, vendor: str) -> Any:
    """A successful answer's JSON; a body that is not JSON is a retryable CarrierError."""
    try:
        return resp.json()
    except ValueError as exc:
        raise CarrierError(f"{vendor} answered with a body that is not JSON", retryable=True) from exc


def webhook_json(body: bytes) -> Any:
    """A push's body as JSON (read only once its signature passed); WebhookError when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"malformed JSON body: {exc}") from exc
