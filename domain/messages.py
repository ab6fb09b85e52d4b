"""What a message is for, where it goes, and what became of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Step(StrEnum):
    CONFIRMATION = "confirmation"
    SHIPPED = "shipped"
    STATUS_UPDATE = "status_update"
    DELAY_ALERT = "delay_alert"
    DELIVERED = "delivered"
    FOLLOW_UP = "follow_up"
    REVIEW_REQUEST = "review_request"
    REVIEW_REMINDER = "review_reminder"
    REORDER_REMINDER = "reorder_reminder"
    REFUND_ISSUED = "refund_issued"
    EXCHANGE_CREATED = "exchange_created"
    CANCELLED = "cancelled"

    @property
    def is_marketing(self) -> bool:
        """Marketing steps need consent and count against caps; transactional ones do neither."""
        return self in _MARKETING


_MARKETING = frozenset({Step.REVIEW_REQUEST, Step.REVIEW_REMINDER, Step.REORDER_REMINDER})


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class SkipReason(StrEnum):
    OPTED_OUT = "opted_out"
    NO_ADDRESS = "no_address"
    CAPPED = "capped"
    SUPPRESSED = "suppressed"
    PAUSED = "paused"
    NOT_APPLICABLE = "not_applicable"
    STALE = "stale"  # its time passed long before we heard of the order (policy `defaults.stale_after`)


class MessageStatus(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"  # the provider kept failing until the retry budget ran out; nothing reached the customer


class AddressedMessage(BaseModel):
    """Which message this is and whom it is for: what a request, its outbox row and its outcome share."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a validation error names no recipient in a log

    idempotency_key: str
    merchant_id: str
    order_id: str
    customer_id: str
    step: Step
    channel: Channel
    recipient: str | None = Field(description="email address or E.164 phone; None -> no_address")


class MessageRequest(AddressedMessage):
    """Input of the `send_message` activity.

    `idempotency_key` is derived in the workflow from workflow id + step + channel (+ item/episode):
    the outbox row is unique on it, so a retried activity never sends twice. `requested_at` is the
    workflow's time, used for cap windows so tests on skipped time see the same answers as production.
    """

    locale: str
    requested_at: datetime
    context: dict[str, Any] = Field(default_factory=dict, description="template variables")
    policy_hash: str
    marketing: bool = False
    cap_window_seconds: int | None = None
    cap_max: int | None = None
    sender: str | None = Field(default=None, description="From address / number, from the policy")


class MessageOutcome(BaseModel):
    """What became of one requested message; recorded in the outbox and in the journey state."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a validation error names no recipient in a log

    idempotency_key: str
    step: Step
    channel: Channel
    recipient: str | None = None
    status: MessageStatus
    skip_reason: SkipReason | None = None
    provider_message_id: str | None = None
    at: datetime | None = None
    detail: str = ""

    @classmethod
    def of(cls, message: AddressedMessage, status: MessageStatus, at: datetime | None, **facts: Any) -> MessageOutcome:
        """What became of `message` (a request or its outbox row): `facts` are the other fields."""
        return cls(
            idempotency_key=message.idempotency_key,
            step=message.step,
            channel=message.channel,
            recipient=message.recipient,
            status=status,
            at=at,
            **facts,
        )

    @classmethod
    def sent(cls, req: MessageRequest, provider_message_id: str, at: datetime) -> MessageOutcome:
        """The outcome of a request the provider accepted."""
        return cls.of(req, MessageStatus.SENT, at, provider_message_id=provider_message_id)
