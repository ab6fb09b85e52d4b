"""AfterShip's failed answers as our CarrierError: its `meta` words, retryable only where asking again can help.

Every v4 answer has `{"meta": {"code", "message", "type"}}`; `meta.code` is finer than the HTTP status (4004
"Tracking does not exist.", 4003 "Tracking already exists."). A 404 without that envelope is a wrong base URL.
A 429 carries `Retry-After` (seconds), kept on the error so the activity waits that long.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import wrong_base_url
from connectors.carriers.retry_after import retry_after

TRACKING_EXISTS = 4003
TRACKING_MISSING = 4004


def meta_of(resp: httpx.Response) -> dict[str, Any] | None:
    """AfterShip's `meta` object, None when the body is not AfterShip's (a proxy, a wrong URL)."""
    try:
        meta = resp.json().get("meta")
    except (ValueError, AttributeError):
        return None
    return meta if isinstance(meta, dict) and "code" in meta else None


def tracking_error(resp: httpx.Response, tracking_number: str, doing: str) -> CarrierError:
    """One CarrierError per failed call, retryable only for outages and rate limits."""
    meta = meta_of(resp)
    status = resp.status_code
    if meta is None and status == 404:
        return wrong_base_url("AfterShip", resp)
    code = meta.get("code") if meta else None
    message = str(meta.get("message") or "") if meta else ""
    said = f" ({code}: {message})" if message else ""
    if status in (401, 403):
        return CarrierError(f"AfterShip rejected the API key{said}", retryable=False, status_code=status)
    if status == 429:
        wait = retry_after(resp)
        text = f"AfterShip rate limit reached {doing}{said}" + (f"; retry after {wait:g}s" if wait is not None else "")
        return CarrierError(text, retryable=True, status_code=status, retry_after=wait)
    if status >= 500:
        return CarrierError(f"AfterShip failed with HTTP {status} {doing}{said}", retryable=True, status_code=status)
    if code == TRACKING_MISSING or status == 404:
        text = f"AfterShip does not know tracking number {tracking_number!r}{said}"
        return CarrierError(text, retryable=False, status_code=status)
    return CarrierError(f"AfterShip refused {doing} (HTTP {status}){said}", retryable=False, status_code=status)
