"""How long a vendor asked us to wait (`Retry-After` on a 429 or 503), bounded, in seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

MAX_WAIT_SECONDS = 3600.0  # a vendor asking for more than an hour is an outage; the retry policy takes over


def retry_after(resp: httpx.Response, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds (it may be a number or an HTTP date), None when absent or unreadable."""
    raw = (resp.headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)
