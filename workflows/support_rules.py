"""The rules behind support's requests, as pure functions of the order and the journey's state.

The journey runs each one twice: in the Update's validator (refuse before anything happens, nothing in
history) and again in the handler once it holds the lock (two agents at once: the second one sees the
first one's refund). A `Refusal` carries the HTTP status the API answers with and a stable code.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from temporalio.exceptions import ApplicationError

from domain import Order, PaymentFacts, RefundReason, TrackingStatus, currency_exponent
from policies.schema import Policy
from workflows.commands import (
    REFUSED,
    CancelCommand,
    ExchangeBonus,
    ExchangeCommand,
    ExchangeItem,
    RefundCommand,
)
from workflows.models import JourneyState, ParcelState

CENT = Decimal("0.01")


class Refusal(Exception):
    """A request the journey turns down; `status` 409 = the order's state forbids it, 422 = the request is wrong."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def to_error(self) -> ApplicationError:
        return ApplicationError(str(self), {"status": self.status, "code": self.code}, type=REFUSED, non_retryable=True)


def money(amount: Decimal, currency: str) -> str:
    """`30.00 USD`, `500 JPY`: as many decimals as the currency has."""
    return f"{amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)))} {currency}"


def refunded_total(state: JourneyState) -> Decimal:
    """What refunds hold: made, on their way, or whose outcome is not known yet."""
    return sum((r.amount for r in state.refunds if r.held), Decimal(0))


def refunded_quantities(order: Order, state: JourneyState) -> dict[str, int]:
    """Units refunded per line item (a whole-order refund counts every unit)."""
    counts: dict[str, int] = {}
    for refund in state.refunds:
        if not refund.held:
            continue
        for item_id, qty in refund.items.items():
            counts[item_id] = counts.get(item_id, 0) + qty
    return {i.id: min(counts.get(i.id, 0), i.quantity) for i in order.items}


def fully_refunded_items(order: Order, state: JourneyState) -> set[str]:
    done = refunded_quantities(order, state)
    return {i.id for i in order.items if done[i.id] >= i.quantity}


def _not_cancelled(state: JourneyState, what: str) -> None:
    if state.cancelled_at is not None:
        raise Refusal(
            409,
            "order_cancelled",
            f"order {state.order_id} was cancelled at {state.cancelled_at:%Y-%m-%d %H:%M} UTC; "
            f"{what} is not possible any more",
        )


def _known_items(order: Order, item_ids: list[str]) -> None:
    unknown = [i for i in item_ids if order.item(i) is None]
    if unknown:
        verb = "is not a line item" if len(unknown) == 1 else "are not line items"
        raise Refusal(
            422,
            "unknown_items",
            f"{', '.join(repr(i) for i in unknown)} {verb} of order {order.order_id}; "
            f"its items are {', '.join(i.id for i in order.items)}",
        )


def payments_configured(order: Order, policy: Policy) -> None:
    """Refunds go out with the merchant's own key, which its policy must name: else nothing can be refunded."""
    if policy.payments is None:
        raise Refusal(
            422,
            "no_payment_credentials",
            f"the policy of merchant {order.merchant_id} names no payment account (payments.credentials_env), so "
            f"Aftercare cannot refund order {order.order_id}; refund it at the payment provider, or add a payments "
            f"section to the policy for new orders",
        )


def payment_check(order: Order, facts: PaymentFacts) -> None:
    """The payment the provider showed us must be this order's: same currency, money captured."""
    assert order.payment is not None
    reference = order.payment.reference
    if facts.currency.upper() != order.currency.upper():
        raise Refusal(
            409,
            "currency_mismatch",
            f"payment.reference {reference} was paid in {facts.currency}, but order {order.order_id} is in "
            f"{order.currency}; nothing was refunded: refund it at the payment provider",
        )
    if facts.captured <= 0:
        raise Refusal(
            409,
            "nothing_captured",
            f"payment.reference {reference} has captured nothing (status {facts.status or 'unknown'}), "
            f"so there is nothing to refund",
        )


def refund_terms(
    order: Order, state: JourneyState, cmd: RefundCommand, provider: PaymentFacts | None = None
) -> tuple[Decimal, dict[str, int]]:
    """The amount to refund and the units it covers, or a `Refusal` naming what is wrong.

    With `provider` (the payment as the provider sees it), the refundable amount is the smaller of what we
    recorded (paid minus refunds held) and what the provider captured minus what it refunded already."""
    if order.payment is None:
        raise Refusal(
            422,
            "no_payment_reference",
            f"order {order.order_id} was received without a payment reference (payment.reference), so Aftercare "
            f"cannot refund it; refund it at the payment provider",
        )
    _not_cancelled(state, "a refund")
    if cmd.reason is None:
        raise Refusal(
            422, "missing_reason", f"a refund needs a reason: one of {', '.join(r.value for r in RefundReason)}"
        )
    if cmd.items and cmd.amount is not None:
        raise Refusal(422, "items_and_amount", "give the items to refund or an amount, not both")
    currency = order.currency
    if cmd.amount is not None:
        places = currency_exponent(currency)
        if cmd.amount <= 0 or cmd.amount != cmd.amount.quantize(Decimal(1).scaleb(-places)):
            raise Refusal(
                422,
                "amount",
                f"amount must be more than 0 with at most {places} decimals for {currency}, not {cmd.amount}",
            )
    refunded = refunded_total(state)
    refundable = order.total - refunded
    held = ""
    if provider is not None and provider.refundable < refundable:
        refundable = provider.refundable
        held = (
            f" (the payment provider has {money(provider.captured, currency)} captured on "
            f"{order.payment.reference} and {money(provider.refunded, currency)} refunded)"
        )
    if refundable <= 0:
        raise Refusal(
            409,
            "fully_refunded",
            f"nothing left to refund: {money(refunded, currency)} of {money(order.total, currency)} "
            f"paid has been refunded already{held}",
        )
    done = refunded_quantities(order, state)
    if cmd.items:
        _known_items(order, list(cmd.items))
        amount = Decimal(0)
        for item_id, qty in cmd.items.items():
            item = order.item(item_id)
            assert item is not None
            left = item.quantity - done[item_id]
            if qty < 1 or qty > left:
                raise Refusal(
                    422,
                    "quantity",
                    f"item {item_id}: {qty} units asked, {left} of {item.quantity} can still be refunded",
                )
            amount += item.unit_price * qty
        if amount > refundable:
            raise Refusal(
                409,
                "over_refund",
                f"those items come to {money(amount, currency)} but only {money(refundable, currency)} of the "
                f"{money(order.total, currency)} paid is still refundable{held}",
            )
        return amount, dict(cmd.items)
    if cmd.amount is not None:
        if cmd.amount > refundable:
            raise Refusal(
                409,
                "over_refund",
                f"{money(cmd.amount, currency)} is more than the {money(refundable, currency)} still refundable "
                f"({money(order.total, currency)} paid, {money(refunded, currency)} refunded){held}",
            )
        return cmd.amount, {}
    return refundable, {i.id: i.quantity - done[i.id] for i in order.items if i.quantity > done[i.id]}


def delivered_at(state: JourneyState, item_id: str) -> datetime | None:
    """When the customer received `item_id` (the earliest delivered original parcel carrying it)."""
    times = [
        p.delivered_at
        for p in state.parcels
        if p.exchange_id is None
        and p.status is TrackingStatus.DELIVERED
        and p.delivered_at is not None
        and (not p.items or item_id in p.items)
    ]
    return min(times) if times else None


def exchanged_quantities(state: JourneyState) -> dict[str, int]:
    counts: dict[str, int] = {}
    for exchange in state.exchanges:
        for item in exchange.items:
            counts[item.item_id] = counts.get(item.item_id, 0) + item.quantity
    return counts


def exchange_check(
    order: Order,
    policy: Policy,
    state: JourneyState,
    cmd: ExchangeCommand,
    now: datetime,
    window_end: dict[str, datetime],
) -> None:
    """Refuse an exchange the policy or the order's state does not allow. `window_end`: item id -> last day."""
    _not_cancelled(state, "an exchange")
    if policy.returns.address is None:
        raise Refusal(
            422,
            "no_return_address",
            f"the policy of merchant {order.merchant_id} has no returns.address, so no return label can be made; "
            f"add one to the policy",
        )
    _known_items(order, [i.item_id for i in cmd.items])
    done, swapped = refunded_quantities(order, state), exchanged_quantities(state)
    asked: dict[str, int] = {}
    for entry in cmd.items:
        asked[entry.item_id] = asked.get(entry.item_id, 0) + entry.quantity
    for item_id, qty in asked.items():
        item = order.item(item_id)
        assert item is not None
        if item_id not in window_end:
            raise Refusal(
                409, "not_delivered", f"item {item_id} has not been delivered yet; exchanges start at delivery"
            )
        if now > window_end[item_id]:
            raise Refusal(
                409,
                "return_window_closed",
                f"the return window for item {item_id} ({policy.returns.window}) closed on "
                f"{window_end[item_id]:%Y-%m-%d %H:%M} UTC; offer a refund instead",
            )
        left = item.quantity - done[item_id] - swapped.get(item_id, 0)
        if qty > left:
            raise Refusal(
                422, "quantity", f"item {item_id}: {qty} units asked, {left} of {item.quantity} can still be exchanged"
            )


def exchange_bonus(order: Order, policy: Policy, items: list[ExchangeItem]) -> ExchangeBonus | None:
    """The store credit the policy offers for exchanging instead of refunding: flat, or a percent of the items."""
    offer = policy.returns.exchange_bonus
    if offer is None:
        return None
    if offer.kind == "flat":
        amount = offer.value
    else:
        lines = [(line, i.quantity) for i in items if (line := order.item(i.item_id)) is not None]
        value = sum((line.unit_price * quantity for line, quantity in lines), Decimal(0))
        amount = (value * offer.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return ExchangeBonus(amount=amount, currency=order.currency, kind=offer.kind, value=offer.value)


def cancel_check(state: JourneyState, cmd: CancelCommand) -> None:
    _not_cancelled(state, "cancelling again")
    if not cmd.reason.strip():
        raise Refusal(422, "missing_reason", "a cancellation needs a reason (the customer may read it)")
    shipped: list[ParcelState] = [p for p in state.parcels if p.exchange_id is None and not p.withdrawn]
    if shipped:
        first = shipped[0]
        raise Refusal(
            409,
            "already_shipped",
            f"order {state.order_id} has shipped ({first.carrier} {first.tracking_number}), so it can no longer be "
            f"cancelled; issue a refund, or an exchange once it is delivered",
        )
