"""WooCommerce's codes in ours: webhook topics, order statuses, payment gateways.

Order statuses are WooCommerce's core ones (REST API "Order properties": pending, processing, on-hold,
completed, cancelled, refunded, failed, trash; `checkout-draft` from the block checkout). Plugins add
their own (`shipped`, `ready-to-ship`...): an unknown status is a live order, never an error.
"""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    """The `X-WC-Webhook-Topic` values we act on (`<resource>.<event>`)."""

    ORDER_CREATED = "order.created"
    ORDER_UPDATED = "order.updated"


TOPICS = frozenset(Topic)


class Standing(StrEnum):
    """What an order's status means for its journey."""

    LIVE = "live"  # placed and paid for, or awaiting a payment the merchant accepts (on-hold): journey on
    NOT_YET = "not_yet"  # not a sale yet (unpaid, payment failed, checkout draft): no journey
    CANCELLED = "cancelled"  # cancelled in the admin: the journey ends as support's cancel does
    GONE = "gone"  # binned in the admin (trash): nothing to tell the customer


STATUS: dict[str, Standing] = {
    "pending": Standing.NOT_YET,  # awaiting payment: WooCommerce sends the customer nothing either
    "failed": Standing.NOT_YET,
    "checkout-draft": Standing.NOT_YET,
    "processing": Standing.LIVE,  # paid, to ship: WooCommerce's own "order received" email goes here
    "on-hold": Standing.LIVE,  # awaiting a bank transfer or cheque the merchant accepted
    "completed": Standing.LIVE,
    "refunded": Standing.LIVE,  # fully refunded: the journey hears the refund, and ends when it may
    "cancelled": Standing.CANCELLED,
    "trash": Standing.GONE,
}


def standing(status: str | None) -> Standing:
    """What `status` means to us; a plugin's own status is a live order."""
    return STATUS.get((status or "").strip().lower(), Standing.LIVE)


# The WooCommerce Stripe Gateway keeps the PaymentIntent on the order as meta `_stripe_intent_id`
# (`WC_Stripe_Payment_Gateway::get_intent_from_order`); `transaction_id` is the charge (`ch_...`).
STRIPE_INTENT_META = "_stripe_intent_id"
STRIPE_INTENT_PREFIX = "pi_"
