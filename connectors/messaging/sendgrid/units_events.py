"""SendGrid's Event Webhook events -> our DeliveryStatus, and what each means for the address.

SendGrid's `event` values (Event Webhook reference): processed, deferred, delivered, bounce (with `type`
"bounce" for a permanent bounce or "blocked" for a temporary block), dropped, open, click, spamreport,
unsubscribe, group_unsubscribe, group_resubscribe. An event not listed here is accepted and ignored.
"""

from __future__ import annotations

from domain.delivery import DeliveryStatus, Suppress

# event -> (our status, what it means for the address). None: the provider has the message, nothing more.
EVENTS: dict[str, tuple[DeliveryStatus | None, Suppress]] = {
    "processed": (None, Suppress.NOTHING),
    "deferred": (DeliveryStatus.DEFERRED, Suppress.NOTHING),
    "delivered": (DeliveryStatus.DELIVERED, Suppress.NOTHING),
    "bounce": (DeliveryStatus.BOUNCED, Suppress.BOUNCED),
    "dropped": (DeliveryStatus.FAILED, Suppress.NOTHING),
    "open": (DeliveryStatus.OPENED, Suppress.NOTHING),
    "click": (DeliveryStatus.CLICKED, Suppress.NOTHING),
    "spamreport": (DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING),
    "unsubscribe": (DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),
    "group_unsubscribe": (DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),
}
# A `bounce` whose `type` is "blocked" is SendGrid's temporary block (the receiving server refused for now,
# e.g. a reputation block): the message bounced, the address is fine.
BOUNCE_TYPES: dict[str, tuple[DeliveryStatus, Suppress]] = {
    "bounce": (DeliveryStatus.BOUNCED, Suppress.BOUNCED),
    "blocked": (DeliveryStatus.BOUNCED, Suppress.NOTHING),
}


def map_event(event: str, bounce_type: str | None = None) -> tuple[DeliveryStatus | None, Suppress] | None:
    """Our status and suppression for a SendGrid event; None for events we ignore (group_resubscribe...).
    A bounce without `type` (older payloads) is a hard bounce; one with a type SendGrid never documented
    bounced, but says nothing we would stop writing to the address for."""
    if event == "bounce" and bounce_type:
        return BOUNCE_TYPES.get(bounce_type, (DeliveryStatus.BOUNCED, Suppress.NOTHING))
    return EVENTS.get(event)
