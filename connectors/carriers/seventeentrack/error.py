"""17TRACK's failed answers as our CarrierError: its codes and words, retryable only where asking again helps.

17TRACK answers HTTP 200 with `code` 0 when the call went through; a refused key or quota is a non-zero
`code` (-18010001... are account errors), a parcel it will not take comes back in `data.rejected` with its own
error. Rate limits are HTTP 429 (with `Retry-After` when 17TRACK sends one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import wrong_base_url
from connectors.carriers.retry_after import retry_after

ALREADY_REGISTERED = -18019901
NOT_REGISTERED = -18019902
ACCOUNT_ERRORS = frozenset({-18010001, -18010002, -18010003, -18010004, -18010005})


def errors_of(body: Any) -> list[tuple[int | None, str]]:
    """(code, message) of every error a 17TRACK body names at its top level."""
    if not isinstance(body, Mapping):
        return []
    data = body.get("data")
    found = data.get("errors") if isinstance(data, Mapping) else None
    out = [(e.get("code"), str(e.get("message") or "")[:300]) for e in found or [] if isinstance(e, Mapping)]
    if not out and body.get("code") not in (0, None):
        out.append((body.get("code"), str(body.get("message") or "")[:300]))
    return out


def _said(errors: list[tuple[int | None, str]]) -> str:
    text = "; ".join(f"{code}: {message}" if message else str(code) for code, message in errors)
    return f" ({text})" if text else ""


def response_error(resp: httpx.Response, tracking_number: str, doing: str) -> CarrierError:
    """One CarrierError for a failed call (HTTP error, or `code` non-zero)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    errors = errors_of(body)
    said, status = _said(errors), resp.status_code
    if status == 404:  # 17TRACK answers every call it knows with 200 and a `code`: this is a wrong address
        return wrong_base_url("17TRACK", resp)
    if status in (401, 403) or any(code in ACCOUNT_ERRORS for code, _ in errors):
        return CarrierError(f"17TRACK rejected the API key (17token){said}", retryable=False, status_code=status)
    if status == 429:
        text = f"17TRACK rate limit reached {doing} {tracking_number}{said}"
        return CarrierError(text, retryable=True, status_code=status, retry_after=retry_after(resp))
    if status >= 500:
        text = f"17TRACK failed with HTTP {status} {doing} {tracking_number}{said}"
        return CarrierError(text, retryable=True, status_code=status, retry_after=retry_after(resp))
    return CarrierError(
        f"17TRACK refused {doing} {tracking_number} (HTTP {status}){said}", retryable=False, status_code=status
    )


def rejected_error(rejected: Mapping[str, Any], tracking_number: str, doing: str) -> CarrierError:
    """A parcel 17TRACK put in `data.rejected` (invalid number, carrier not detected...): not retryable."""
    error = rejected.get("error") if isinstance(rejected.get("error"), Mapping) else {}
    assert isinstance(error, Mapping)
    said = _said([(error.get("code"), str(error.get("message") or "")[:300])])
    return CarrierError(f"17TRACK refused {doing} {tracking_number}{said}", retryable=False)
