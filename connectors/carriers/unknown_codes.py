"""Vendor status codes our units tables do not know yet: logged once each and counted, never a crash.

A tracking provider adds a sub-status before we add it to our table; the parcel then reads `unknown` (which
alerts nobody, the stall rules notice if it lasts) and this counter tells an engineer which table to extend.
Only the provider and the code are recorded, never a tracking number or anything about the customer.
"""

from __future__ import annotations

import logging
import re
import threading

from prometheus_client import Counter

UNKNOWN_CODES = Counter(
    "aftercare_unknown_vendor_codes_total",
    "Status codes a tracking provider sent that our units table does not map (read as unknown)",
    ["provider", "code"],
)
MAX_DISTINCT_CODES = 200  # per process: beyond this, codes share one label (a bound on metric series)
OVERFLOW_LABEL = "(other)"

log = logging.getLogger("connectors.carriers.unknown_codes")
_seen: set[tuple[str, str]] = set()
_lock = threading.Lock()
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/ -]")


def _label(code: object) -> str:
    """The code as a short, printable label: a vendor could send anything, and labels are kept forever."""
    text = _UNSAFE.sub("?", str(code))[:64]
    return text or "(empty)"


def note_unknown(provider: str, code: object) -> None:
    """Count `code` from `provider` as unmapped; log it the first time this process sees it."""
    label = _label(code)
    with _lock:
        first = (provider, label) not in _seen
        if first and len(_seen) >= MAX_DISTINCT_CODES:
            label, first = OVERFLOW_LABEL, False
        elif first:
            _seen.add((provider, label))
    UNKNOWN_CODES.labels(provider, label).inc()
    if first:
        log.warning("%s sent status code %r that its units table does not map: read as unknown", provider, label)
