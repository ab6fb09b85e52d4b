"""Shippo's failed answers as our CarrierError: its words, retryable only where asking again can help."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import wrong_base_url
from connectors.carriers.retry_after import retry_after


def shippo_said(resp: httpx.Response) -> str | None:
    """Shippo's own words: `detail`, or each field it named with its messages; None if the body is not Shippo's."""
    try:
        body: Any = resp.json()
    except ValueError:
        return None
    if not isinstance(body, Mapping) or not body:
        return None
    if body.get("detail"):
        return str(body["detail"])[:300]
    parts = []
    for field, messages in list(body.items())[:5]:
        said = "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        parts.append(f"{field}: {said}"[:200])
    return ", ".join(parts) or None


def track_error(resp: httpx.Response, tracking_number: str, doing: str) -> CarrierError:
    """One CarrierError per failed Shippo call; `doing` says which ("tracking", "registering")."""
    said = shippo_said(resp)
    words = f" ({said})" if said else ""
    status = resp.status_code
    if status == 404:  # Shippo answers an unknown parcel with status UNKNOWN, not 404: this is a wrong address
        return wrong_base_url("Shippo", resp, words)
    if status in (401, 403):
        return CarrierError(f"Shippo rejected the API token{words}", retryable=False, status_code=status)
    if status == 429:
        wait = retry_after(resp)
        return CarrierError(
            f"Shippo rate limit reached {doing} {tracking_number}{words}",
            retryable=True,
            status_code=status,
            retry_after=wait,
        )
    if status >= 500:
        text = f"Shippo failed with HTTP {status} {doing} {tracking_number}{words}"
        return CarrierError(text, retryable=True, status_code=status, retry_after=retry_after(resp))
    if status in (400, 422):
        text = f"Shippo cannot track {tracking_number!r} (HTTP {status}){words}"
        return CarrierError(text, retryable=False, status_code=status)
    return CarrierError(
        f"Shippo refused {doing} {tracking_number} with HTTP {status}{words}", retryable=False, status_code=status
    )
