"""What a messaging provider told us about a message after it accepted it: delivered, bounced, opened...

Every provider's callback (SendGrid's event webhook, Postmark's webhooks, Twilio's status callbacks, WhatsApp
Cloud's status webhooks) maps onto `DeliveryEvent`, one per message and event, with our `DeliveryStatus`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.messages import Channel


class DeliveryStatus(StrEnum):
    """Where a sent message got to, in our words (each provider's units table maps onto these)."""

    DEFERRED = "deferred"  # the receiving side asked to try later; the provider keeps trying
    DELIVERED = "delivered"
    OPENED = "opened"  # email opened, SMS/WhatsApp read
    CLICKED = "clicked"
    FAILED = "failed"  # the provider gave up (dropped, undelivered), not necessarily for good
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # marked as spam
    UNSUBSCRIBED = "unsubscribed"


# How far along (or how bad) each status is. A message's recorded status only ever moves up this scale, so
# callbacks arriving out of order (a late "delivered" after "bounced") or twice change nothing.
DELIVERY_RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.DEFERRED: 10,
    DeliveryStatus.DELIVERED: 20,
    DeliveryStatus.OPENED: 30,
    DeliveryStatus.CLICKED: 40,
    DeliveryStatus.FAILED: 50,
    DeliveryStatus.BOUNCED: 60,
    DeliveryStatus.COMPLAINED: 70,
    DeliveryStatus.UNSUBSCRIBED: 80,
}


class Suppress(StrEnum):
    """What a delivery event means for the address, beyond this one message."""

    NOTHING = "nothing"
    BOUNCED = "bounced"  # the address cannot receive this channel: never write to it again
    NO_MARKETING = "no_marketing"  # marked as spam, or stopped marketing: no more marketing to it
    OPTED_OUT = "opted_out"  # unsubscribed: it gets nothing more on this channel


class DeliveryEvent(BaseModel):
    """One provider event about one message.

    The message is found by `idempotency_key` (ours, where the provider echoes what we sent with it: SendGrid's
    custom_args, Postmark's Metadata, WhatsApp's biz_opaque_callback_data) or else by the provider's own
    `provider_message_id`. `status` None: the provider merely says it has the message (processed, queued, sent),
    which confirms a send we had recorded as unconfirmed and changes nothing else.
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)  # no recipient in a validation error

    provider: str
    channels: tuple[Channel, ...]  # the channels this provider's message ids belong to
    event_id: str = Field(max_length=300)  # the vendor's event id, or a hash of what identifies the event
    provider_message_id: str | None = Field(default=None, max_length=300)
    idempotency_key: str | None = Field(default=None, max_length=300)
    vendor_event: str = Field(max_length=100)  # the vendor's own word: "bounce", "HardBounce", "undelivered"
    status: DeliveryStatus | None
    suppress: Suppress = Suppress.NOTHING
    occurred_at: datetime | None = None
    recipient: str | None = Field(default=None, max_length=320)
    detail: str = Field(default="", max_length=500)
