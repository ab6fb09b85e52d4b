"""EasyPost's failed answers as our CarrierError: its words, the fields it named, retryable only for outages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import wrong_base_url


def easypost_error(resp: httpx.Response) -> dict[str, Any] | None:
    """EasyPost's `error` object, None when the body is not EasyPost's (a proxy, a wrong URL)."""
    try:
        err = resp.json().get("error")
    except (ValueError, AttributeError):
        return None
    return err if isinstance(err, dict) else None


# In a return shipment we send the customer as `to_address` (EasyPost swaps them): name fields plainly.
RETURN_FIELD_NAMES = {"to_address": "customer address", "from_address": "merchant address"}


def _field(name: str) -> str:
    side, dot, rest = name.partition(".")
    return f"{RETURN_FIELD_NAMES[side]}{' ' + rest if dot else ''}" if side in RETURN_FIELD_NAMES else name


def shipment_error(resp: httpx.Response, what: str) -> CarrierError:
    """A failed shipment call, with EasyPost's words and each field it named; retryable only for outages."""
    err = easypost_error(resp)
    status = resp.status_code
    if err is None and status == 404:
        return wrong_base_url("EasyPost", resp)
    err = err or {}
    parts = [": ".join(str(p) for p in (err.get("code"), err.get("message")) if p)]
    for field_error in err.get("errors") or []:
        if isinstance(field_error, Mapping) and "field" in field_error:
            parts.append(f"{_field(str(field_error['field']))} {field_error.get('message') or 'is invalid'}")
        elif isinstance(field_error, Mapping):  # EasyPost's older {"to_address": "Invalid format."}
            parts.extend(f"{_field(str(k))}: {v}" for k, v in field_error.items())
    said = f" ({'; '.join(p.rstrip('.') for p in parts if p)})" if any(parts) else ""
    if status in (401, 403):
        return CarrierError(f"EasyPost rejected the API key{said}", retryable=False, status_code=status)
    if status == 429:
        return CarrierError(f"EasyPost rate limit reached making {what}{said}", retryable=True, status_code=status)
    if status >= 500:
        text = f"EasyPost failed with HTTP {status} making {what}{said}"
        return CarrierError(text, retryable=True, status_code=status)
    return CarrierError(f"EasyPost refused {what} (HTTP {status}){said}", retryable=False, status_code=status)


def tracker_error(resp: httpx.Response, tracking_number: str) -> CarrierError:
    """One CarrierError per failed tracker call, retryable only when asking again can help."""
    err = easypost_error(resp)
    easypost_said = err is not None
    code, message = (str(err.get("code") or ""), str(err.get("message") or "")) if err else ("", "")
    said = f" ({code}: {message})" if code or message else ""
    status = resp.status_code
    if status == 404 and not easypost_said:
        # not EasyPost's "no such tracker" but a wrong address: say so rather than blame the parcel
        return wrong_base_url("EasyPost", resp)
    if status in (401, 403):
        text, retryable = f"EasyPost rejected the API key{said}", False
    elif status in (404, 422) or (status == 400 and "TRACKING_CODE" in code):
        text, retryable = f"EasyPost does not know tracking code {tracking_number!r}{said}", False
    elif status == 429:
        text, retryable = f"EasyPost rate limit reached{said}", True
    elif status >= 500:
        text, retryable = f"EasyPost failed with HTTP {status}{said}", True
    else:
        text, retryable = f"EasyPost refused the request with HTTP {status}{said}", False
    return CarrierError(text, retryable=retryable, status_code=status)
