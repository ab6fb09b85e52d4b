"""What a message is for, where it goes, and what became of it."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_CONTEXT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z0-9_]{1,64}){0,5}$")


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


class ProviderTemplate(BaseModel):
    """A template the provider has approved (WhatsApp Cloud API), named per step in the policy.

    `parameters` are paths into the message's template context (`customer.first_name`, `order.id`),
    filled in order into the template's body placeholders {{1}}, {{2}}...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8})?$")
    parameters: list[str] = Field(default_factory=list, max_length=32)

    @field_validator("parameters")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for path in v:
            if not _CONTEXT_PATH.match(path):
                raise ValueError(f"{path[:64]!r} is not a context path like customer.first_name or order.id")
        return v


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
    # The merchant's provider for this channel and the environment variables holding its credentials
    # (names only: the values never enter a workflow's history). None: the worker's default sender.
    provider: str | None = None
    credentials_env: dict[str, str] = Field(default_factory=dict)
    template: ProviderTemplate | None = Field(default=None, description="approved template (WhatsApp Cloud)")
    # The policy's defaults.resend_unconfirmed for this step: may a send a crash left unconfirmed go out again
    # when the provider says it never got it? Never for marketing steps (the activity checks that too).
    resend_unconfirmed: bool = False


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


CHANNEL_PROVIDERS: dict[Channel, tuple[str, ...]] = {
    Channel.EMAIL: ("smtp", "sendgrid", "postmark"),
    Channel.SMS: ("twilio",),
    Channel.WHATSAPP: ("twilio", "whatsapp_cloud"),
}
"""Which providers can carry each channel; a policy picks one per channel (`channels.<channel>.provider`)."""

PROVIDER_CREDENTIALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "smtp": ((), ("host", "port", "username", "password", "security", "starttls")),  # starttls: the older spelling
    "sendgrid": (("api_key",), ()),
    "postmark": (("server_token",), ("message_stream",)),
    "twilio": (("account_sid", "auth_token"), ("base_url",)),
    "whatsapp_cloud": (("access_token",), ("phone_number_id",)),
}
"""Per provider: the credentials it needs and those it may take (keys of a channel's `credentials_env`)."""

PROVIDER_CALLBACK_SECRETS: dict[str, tuple[str, ...]] = {
    "smtp": (),
    "sendgrid": ("public_key",),  # the Signed Event Webhook's verification key (base64 DER)
    "postmark": ("user", "password"),  # the basic auth pair in the webhook URL
    "twilio": ("auth_token",),  # the account's auth token (default: the channel's credentials_env.auth_token)
    "whatsapp_cloud": ("app_secret", "verify_token"),  # the Meta app's secret (signs), its webhook's verify token
}
"""Per provider: what verifies its delivery callbacks (keys of a channel's `webhook_secret_env`), all needed."""
