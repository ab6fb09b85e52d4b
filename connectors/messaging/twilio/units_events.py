"""Twilio status callbacks -> our DeliveryStatus, and what each means for the number.

`MessageStatus` values of an outbound message: queued, sending, sent, accepted, scheduled (Twilio has it; no
news for the customer), delivered, undelivered, failed, read (WhatsApp), canceled. An undelivered or failed
message carries `ErrorCode`, which says whether the number itself is the problem.
"""

from __future__ import annotations

from domain.delivery import DeliveryStatus, Suppress

Mapped = tuple[DeliveryStatus | None, Suppress]

STATUSES: dict[str, Mapped] = {
    "accepted": (None, Suppress.NOTHING),
    "scheduled": (None, Suppress.NOTHING),
    "queued": (None, Suppress.NOTHING),
    "sending": (None, Suppress.NOTHING),
    "sent": (None, Suppress.NOTHING),
    "delivered": (DeliveryStatus.DELIVERED, Suppress.NOTHING),
    "read": (DeliveryStatus.OPENED, Suppress.NOTHING),
    "undelivered": (DeliveryStatus.FAILED, Suppress.NOTHING),
    "failed": (DeliveryStatus.FAILED, Suppress.NOTHING),
    "canceled": (DeliveryStatus.FAILED, Suppress.NOTHING),
}
# ErrorCode of an undelivered/failed message that says more than "failed". The suppressions agree with the
# send errors' table (units.py RECIPIENT_SUPPRESSIONS): the same number refused the same way.
ERROR_CODES: dict[int, tuple[DeliveryStatus, Suppress]] = {
    21610: (DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),  # the recipient replied STOP
    21211: (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # invalid 'To' number
    21614: (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # not a mobile number
    30005: (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # unknown destination handset
    30006: (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # landline or unreachable carrier
    63003: (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # WhatsApp: not a WhatsApp user
    63024: (DeliveryStatus.BOUNCED, Suppress.NOTHING),  # WhatsApp: cannot receive this message (may later)
    30003: (DeliveryStatus.FAILED, Suppress.NOTHING),  # unreachable handset (switched off...)
}


def map_status(status: str, error_code: int | None = None) -> Mapped | None:
    """Ours for a status callback; None for statuses of inbound messages (receiving, received) and unknown ones."""
    mapped = STATUSES.get(status)
    if mapped is None:
        return None
    if mapped[0] is DeliveryStatus.FAILED and error_code in ERROR_CODES:
        return ERROR_CODES[error_code]
    return mapped
