"""The records the `Store` hands out and takes (outbox rows, tokens, search hits...) and its errors:
small frozen values, detached from the database, that callers may keep and compare.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from domain import Actor, AddressedMessage, Channel, MessageRequest, Role, SkipReason, TrackingEvent
from domain.delivery import DeliveryStatus


class StorageError(Exception):
    """Base of the errors the Store raises on purpose (bad references, conflicting facts)."""


class UnknownOrderError(StorageError, LookupError):
    pass


class ShipmentConflictError(StorageError):
    """The tracking number is already recorded for a different order of the same merchant."""


@dataclass(frozen=True)
class UnmatchedLimits:
    """How much of what carriers push for tracking numbers nobody registered is kept, and for how long.

    Beyond `per_parcel` scans of one carrier + tracking number the oldest scans (by when they happened) go;
    beyond `total` rows the oldest received go. Rows older than `keep_for` expire (AfterShip's 30 days: a
    parcel not registered by then is not coming). `expire_every` throttles the expiry a push runs.
    """

    per_parcel: int = 200
    total: int = 50_000
    keep_for: timedelta = timedelta(days=30)
    expire_every: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class PushRecorded:
    """What `record_carrier_push` did: every merchant's parcel per tracking number (empty: nobody's yet),
    the scans new to the database, and whether the body was written (False: a repeat, nothing new)."""

    owners: dict[str, list[tuple[str, str]]]
    new_events: int
    body_stored: bool


class TokenNameTakenError(StorageError):
    """An active API token already has this name."""


AWAITING_HANDOVER = "sending: not handed to the provider yet"
"""The detail of a 'sending' row whose attempt has not reached its sender's point of no return (OutboxStatus)."""


class OutboxStatus(StrEnum):
    """Where one outbox row is.

    pending --mark_sending--> sending --mark_sent--> sent
                                      --mark_unconfirmed--> sent (provider_message_id NULL, detail 'unconfirmed: ...')
                                      --mark_failed--> failed --mark_sending--> sending (a retry)
    pending/failed/sending --mark_skipped--> skipped
    sent (unconfirmed) --mark_sent--> sent (a late confirmation fills in the provider id)
    sent and skipped are final.

    A sender with a late point of no return (the final dot of SMTP's DATA) is given the row as 'sending' with detail
    AWAITING_HANDOVER and clears it (`hand_over`) right before that point: a row left with the mark was never
    handed to the provider, so a retry sends it, where a row without it may be at the provider already.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


FINAL_OUTBOX_STATUSES = frozenset({OutboxStatus.SENT, OutboxStatus.SKIPPED})


class EarlierOrder(NamedTuple):
    """A customer's earlier order that shares SKUs with a new one, and the journey to tell."""

    order_id: str
    workflow_id: str
    skus: list[str]


class SuppressionReason(StrEnum):
    """Why an address is suppressed on a channel. opted_out and bounced stop every message; no_marketing (a
    spam complaint, a "stop marketing" from the provider) stops marketing steps only."""

    OPTED_OUT = "opted_out"
    BOUNCED = "bounced"
    NO_MARKETING = "no_marketing"


class OutboxRow(AddressedMessage):
    """One outbox row, detached from the database."""

    model_config = ConfigDict(frozen=True)

    marketing: bool
    policy_hash: str | None
    status: OutboxStatus
    skip_reason: SkipReason | None
    provider_message_id: str | None
    requested_at: datetime
    sent_at: datetime | None
    attempts: int
    detail: str
    created_at: datetime
    updated_at: datetime
    delivery_status: DeliveryStatus | None = None  # what the provider's callbacks said last (see storage.deliveries)
    delivery_at: datetime | None = None
    delivery_detail: str | None = None


@dataclass(frozen=True)
class DeliveryRecorded:
    """What one provider event did to the outbox: found a row or not, moved its delivery status, settled a send
    recorded as unconfirmed, suppressed the address (the reason now recorded for it)."""

    matched: bool
    changed: bool = False
    confirmed: bool = False
    suppressed: SuppressionReason | None = None


class UnmatchedEvent(BaseModel):
    """A pushed scan for a parcel nobody had registered when it arrived; its body is in carrier_payloads."""

    model_config = ConfigDict(frozen=True)

    id: int
    event: TrackingEvent
    payload_sha256: str | None
    received_at: datetime


class IssuedToken(BaseModel):
    """A token just created. `token` is the only copy of the secret there will ever be: show it once."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    merchant_id: str | None
    token: str = Field(repr=False)  # never in a repr, so never in a log line or a traceback by accident
    prefix: str


class ApiTokenInfo(BaseModel):
    """What a listing shows of a token: everything but the secret and its hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    merchant_id: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class OpenedSession(BaseModel):
    """A console session just opened. `session_id` is the cookie's value and the only copy there is."""

    model_config = ConfigDict(frozen=True)

    session_id: str = Field(repr=False)
    actor: Actor
    expires_at: datetime


class OrderSummary(BaseModel):
    """One hit of the support console's search box, and which key it matched on."""

    model_config = ConfigDict(frozen=True)

    merchant_id: str
    order_id: str
    customer_name: str | None
    customer_email: str | None
    placed_at: datetime
    total: Decimal
    currency: str
    matched_by: Literal["order_id", "email", "tracking_number"]


def hash_token(token: str) -> str:
    """sha256 hex: what the database keeps instead of a token. Tokens carry 256 random bits, so a fast
    unsalted hash is enough (there is nothing to brute-force) and it lets a lookup use an index."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_recipient(channel: Channel | str, recipient: str) -> str:
    """Emails compare case-insensitively; phone numbers are E.164 already. One spelling per address."""
    recipient = recipient.strip()
    return recipient.lower() if Channel(channel) is Channel.EMAIL else recipient


def effective_marketing(req: MessageRequest) -> bool:
    """A step the domain calls marketing always counts as marketing, whatever the request says."""
    return req.marketing or req.step.is_marketing
