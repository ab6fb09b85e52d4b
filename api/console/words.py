"""The console's words: what steps, channels, statuses, delays, actions and reasons are called on its pages,
and how times, names and plan labels are written (UTC-only, in words a person reads)."""

from __future__ import annotations

from datetime import UTC, datetime

from api.action_catalog import ACTIONS
from domain import Channel, DelayKind, Order, RefundReason, SkipReason, Step, TrackingStatus

TIMES = "\N{MULTIPLICATION SIGN}"  # as in "1 TIMES Mug (li-1)"

STEP_WORDS = {
    Step.CONFIRMATION: "Order confirmation",
    Step.SHIPPED: "Shipping notice",
    Step.STATUS_UPDATE: "Tracking update",
    Step.DELAY_ALERT: "Delay alert",
    Step.DELIVERED: "Delivery notice",
    Step.FOLLOW_UP: "Follow-up",
    Step.REVIEW_REQUEST: "Review request",
    Step.REVIEW_REMINDER: "Review reminder",
    Step.REORDER_REMINDER: "Reorder reminder",
    Step.REFUND_ISSUED: "Refund notice",
    Step.EXCHANGE_CREATED: "Exchange notice",
    Step.CANCELLED: "Cancellation notice",
}
CHANNEL_WORDS = {Channel.EMAIL: "email", Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp"}
SKIP_WORDS = {
    SkipReason.OPTED_OUT: "the customer opted out (or gave no marketing consent)",
    SkipReason.NO_ADDRESS: "no address for this channel",
    SkipReason.CAPPED: "the marketing cap was reached",
    SkipReason.SUPPRESSED: "the address is suppressed (it bounced or complained)",
    SkipReason.PAUSED: "messages were paused",
    SkipReason.NOT_APPLICABLE: "no longer relevant",
    SkipReason.STALE: "its time had long passed when the order reached us",
}
STATUS_WORDS = {
    TrackingStatus.PENDING: "label created, not scanned yet",
    TrackingStatus.IN_TRANSIT: "in transit",
    TrackingStatus.OUT_FOR_DELIVERY: "out for delivery",
    TrackingStatus.AVAILABLE_FOR_PICKUP: "available for pickup",
    TrackingStatus.ATTEMPT_FAILED: "delivery attempt failed",
    TrackingStatus.DELIVERED: "delivered",
    TrackingStatus.EXCEPTION: "carrier exception",
    TrackingStatus.RETURNING: "returning to sender",
    TrackingStatus.RETURNED: "returned to sender",
    TrackingStatus.EXPIRED: "tracking expired",
    TrackingStatus.CANCELLED: "label cancelled",
    TrackingStatus.UNKNOWN: "unknown status",
}
DELAY_WORDS = {
    DelayKind.FULFILLMENT_LATE: "not shipped within the fulfillment SLA",
    DelayKind.PICKUP_LATE: "label made but the carrier has not picked it up",
    DelayKind.STALLED: "no scan for too long",
    DelayKind.EDD_MISSED: "estimated delivery date missed",
    DelayKind.EDD_REVISED: "estimated delivery date moved later",
    DelayKind.CARRIER_EXCEPTION: "the carrier reported a problem",
}
# What each action is called, and the banner once done (api/action_catalog.py).
ACTION_WORDS = {a.update: a.words for a in ACTIONS}
DONE_WORDS = {a.update: a.done for a in ACTIONS}
REASON_WORDS = {
    RefundReason.DAMAGED: "damaged",
    RefundReason.LATE: "late",
    RefundReason.WRONG_ITEM: "wrong item",
    RefundReason.NOT_AS_DESCRIBED: "not as described",
    RefundReason.GOODWILL: "goodwill",
    RefundReason.OTHER: "other",
}
# The console's names for actions (URL segments) -> the journey's Update names.
SLUGS = {a.slug: a.update for a in ACTIONS}

# --- formatting -------------------------------------------------------------------------------------


def utc(at: datetime | None) -> str:
    """A time as people read it in a UTC-only console: `2026-11-22 15:02 UTC`."""
    if at is None:
        return "—"
    return f"{aware(at).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def relative(at: datetime | None, now: datetime | None = None) -> str:
    """How far from now, in words: `3 minutes ago`, `in 2 days`, `just now`."""
    if at is None:
        return ""
    seconds = (aware(at) - (now or datetime.now(UTC))).total_seconds()
    span = abs(seconds)
    if span < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if span >= size * 0.75 or unit == "minute":
            count = max(1, round(span / size))
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if seconds > 0 else f"{words} ago"
    raise AssertionError("unreachable")


def aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def customer_name(order: Order) -> str:
    customer = order.customer
    full = " ".join(n for n in (customer.first_name, customer.last_name) if n)
    return full or str(customer.email or "") or f"customer {customer.id}"


def planned_words(what: str) -> str:
    """A plan label (`review_request (li-1)`) in words (`Review request (li-1)`)."""
    head, _, rest = what.partition(" ")
    try:
        step = Step(head)
    except ValueError:
        return what[:1].upper() + what[1:]
    return f"{STEP_WORDS[step]} {rest}".strip()
