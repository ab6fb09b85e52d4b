"""Vendor status codes no units table knows: mapped to `unknown`, logged and counted, never a crash.

Shared by every carrier connector's mapper, so one Prometheus counter (`provider`, `code`) shows which vendor
started sending a code we should add to its table. The code is the vendor's status vocabulary, never parcel or
customer data; it is cut to a short, plain label so a strange value cannot flood the metrics.
"""

from __future__ import annotations

import logging
import re

from prometheus_client import Counter

log = logging.getLogger("aftercare.carriers")

UNKNOWN_CODES = Counter(
    "aftercare_carrier_unknown_codes_total",
    "Vendor tracking status codes no units table maps (mapped to unknown)",
    ["provider", "code"],
)

_PLAIN = re.compile(r"[^A-Za-z0-9_.-]")


def unknown_code(provider: str, code: str) -> None:
    """Record a code `provider` sent that its table does not know."""
    label = _PLAIN.sub("?", code)[:48] or "(empty)"
    log.warning(
        "%s sent tracking status code %r, which its units table does not know: mapped to unknown", provider, label
    )
    UNKNOWN_CODES.labels(provider, label).inc()
