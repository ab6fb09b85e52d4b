"""WhatsApp Cloud API message statuses -> our DeliveryStatus, and what each means for the number.

A status webhook's `status` is sent, delivered, read or failed; a failed one carries `errors[]` with Meta's
error `code`. Codes that say more than "failed" are listed here; anything else is a plain failure.
"""

from __future__ import annotations

from domain.delivery import DeliveryStatus, Suppress

Mapped = tuple[DeliveryStatus | None, Suppress]

STATUSES: dict[str, Mapped] = {
    "sent": (None, Suppress.NOTHING),  # WhatsApp has it; confirms a send we were not sure of
    "delivered": (DeliveryStatus.DELIVERED, Suppress.NOTHING),
    "read": (DeliveryStatus.OPENED, Suppress.NOTHING),
    "failed": (DeliveryStatus.FAILED, Suppress.NOTHING),
}
ERROR_CODES: dict[int, Mapped] = {
    # the recipient chose to stop receiving marketing messages from this business
    131050: (DeliveryStatus.UNSUBSCRIBED, Suppress.NO_MARKETING),
    # message undeliverable: not a WhatsApp user, or an old app; may work later
    131026: (DeliveryStatus.BOUNCED, Suppress.NOTHING),
}


def map_status(status: str, error_code: int | None = None) -> Mapped | None:
    """Ours for a status webhook; None for statuses we do not track (deleted, warning...)."""
    mapped = STATUSES.get(status)
    if mapped is not None and status == "failed" and error_code in ERROR_CODES:
        return ERROR_CODES[error_code]
    return mapped
