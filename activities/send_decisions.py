"""The pure decisions of `send_message` (activities.messaging): what a final outbox row stands for, whether a
message is skipped and why, what a provider's failure means. No I/O: unit-tested without a store or a provider."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from temporalio.exceptions import ApplicationError

from connectors.messaging.base import MessagingError
from domain import MessageOutcome, MessageRequest, MessageStatus, SkipReason
from storage import OutboxRow, OutboxStatus, SuppressionReason
from storage.repository import effective_marketing


def recorded_outcome(row: OutboxRow) -> MessageOutcome | None:
    """The outcome a final outbox row stands for; None while the row still needs work."""
    if row.status not in (OutboxStatus.SENT, OutboxStatus.SKIPPED):
        return None
    sent = row.status is OutboxStatus.SENT
    return MessageOutcome.of(
        row,
        MessageStatus.SENT if sent else MessageStatus.SKIPPED,
        row.sent_at if sent else row.updated_at,
        provider_message_id=row.provider_message_id if sent else None,
        skip_reason=None if sent else row.skip_reason,
        detail=row.detail,
    )


def cap_window(req: MessageRequest) -> tuple[datetime, datetime] | None:
    """[start, end) of the frequency-cap window on the workflow's clock; None if no cap applies.
    Transactional messages are never capped."""
    if not effective_marketing(req) or req.cap_window_seconds is None or req.cap_max is None:
        return None
    end = req.requested_at
    return end - timedelta(seconds=req.cap_window_seconds), end


def skip_decision(
    req: MessageRequest, suppression: SuppressionReason | None, marketing_sent: int | None
) -> tuple[SkipReason, str] | None:
    """Why this message must not go out (reason, detail), or None to send it.

    `suppression` is the recipient's suppression on this channel; `marketing_sent` the number of
    marketing messages already sent in the cap window (None when no cap applies).
    """
    if not (req.recipient or "").strip():
        return SkipReason.NO_ADDRESS, f"no {req.channel.value} address for customer {req.customer_id}"
    if suppression is SuppressionReason.OPTED_OUT:
        return SkipReason.OPTED_OUT, f"{req.recipient} opted out of {req.channel.value}"
    if suppression is SuppressionReason.NO_MARKETING:
        if effective_marketing(req):
            return (
                SkipReason.SUPPRESSED,
                f"{req.recipient} takes no marketing on {req.channel.value} (complained or stopped marketing)",
            )
    elif suppression is not None:
        return SkipReason.SUPPRESSED, f"{req.recipient} is suppressed on {req.channel.value} ({suppression.value})"
    if marketing_sent is not None and req.cap_max is not None and marketing_sent >= req.cap_max:
        return SkipReason.CAPPED, (
            f"frequency cap: {marketing_sent} marketing {req.channel.value} message(s) in the last "
            f"{req.cap_window_seconds}s, at most {req.cap_max}"
        )
    return None


class ProviderFailure(StrEnum):
    UNCONFIRMED = "unconfirmed"  # may have gone out: record as sent, never resend
    RECIPIENT = "recipient"  # the recipient cannot get it, ever: record as skipped
    CONFIGURATION = "configuration"  # our setup is broken: fail loudly, no retry until someone fixes it
    RETRY = "retry"  # known not sent: let Temporal try again


def classify_provider_error(err: MessagingError) -> ProviderFailure:
    """maybe_sent wins over everything: a message that may exist must not be sent again. Then a
    retryable error is retried (whoever's fault it is); a permanent one is the recipient's only when
    the provider said so, everything else is a configuration problem."""
    if err.maybe_sent:
        return ProviderFailure.UNCONFIRMED
    if err.retryable:
        return ProviderFailure.RETRY
    if err.recipient_fault:
        return ProviderFailure.RECIPIENT
    return ProviderFailure.CONFIGURATION


def skip_for_recipient_fault(err: MessagingError) -> tuple[SkipReason, SuppressionReason | None]:
    """How a refusal that is the recipient's fault is recorded: the skip reason, and the suppression
    to add for the address (None: skip this message only)."""
    suppression = SuppressionReason(err.suppression) if err.suppression is not None else None
    reason = SkipReason.OPTED_OUT if suppression is SuppressionReason.OPTED_OUT else SkipReason.SUPPRESSED
    return reason, suppression


def check_request(req: MessageRequest) -> None:
    """Refuse requests no retry can fix, as a non-retryable error the workflow sees at once."""
    if req.requested_at.tzinfo is None or req.requested_at.utcoffset() is None:
        raise ApplicationError(
            f"requested_at {req.requested_at.isoformat()} has no timezone; use workflow.now()",
            type="InvalidMessageRequest",
            non_retryable=True,
        )
    if not req.idempotency_key.strip():
        raise ApplicationError("idempotency_key is empty", type="InvalidMessageRequest", non_retryable=True)
