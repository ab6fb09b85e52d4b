"""What the merchant's store tells a running journey (signals: facts, not requests): the customer's marketing
consent changed, a refund made in the store's admin, and an order cancelled there.

A mixin of `OrderJourney`. Neither moves money: the store already did. A refund is kept with the journey's
refunds (so support cannot refund the same money again, and refunded items drop out of review and reorder
steps, as support's refund does); a cancellation ends the journey the way support's cancel does, minus the
refund.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import RefundReason, Role
    from domain.stores import OrderCancelled, StoreRefund
    from domain.support import Actor
    from workflows.commands import RefundRecord
    from workflows.models import ConsentChanged
    from workflows.support_updates import SupportUpdates

STORE_REFUND_PREFIX = "store-refund-"


class StoreFacts(SupportUpdates):
    """The store's signals; the attributes are the journey's."""

    _consent_at: datetime | None = None  # the store's time of the last consent change applied

    @workflow.signal
    def store_consent_changed(self, change: ConsentChanged) -> None:
        """The customer's marketing consent changed in the store: the journey's later marketing messages (follow-up,
        reviews, reorders) follow it. Transactional ones (shipped, delivered) never depended on it."""
        if self._consent_at is not None and change.at is not None and change.at <= self._consent_at:
            return  # an older change, delivered late
        self._consent_at = change.at or self._consent_at
        order = self._messenger.order
        if order.customer.marketing_consent is not change.marketing_consent:
            customer = order.customer.model_copy(update={"marketing_consent": change.marketing_consent})
            self._messenger.order = order.model_copy(update={"customer": customer})

    @workflow.signal
    def store_refunded(self, refund: StoreRefund) -> None:
        """Money given back in the store's admin. The same refund twice changes nothing; a refund of shipping
        alone names no item and takes none out of the plan."""
        key = f"{STORE_REFUND_PREFIX}{refund.refund_id}"
        if any(r.key == key for r in self._state.refunds):
            return
        order = self._inp.order
        items = {item_id: qty for item_id, qty in refund.items.items() if order.item(item_id) is not None}
        self._state.refunds.append(
            RefundRecord(
                key=key,
                amount=refund.amount,
                currency=order.currency,
                reason=RefundReason.OTHER,
                items=items,
                note="refunded in the store",
                provider="store",
                provider_refund_id=refund.refund_id,
                status="succeeded",
                by=self._store_actor(),
                at=refund.created_at or workflow.now(),
            )
        )
        self._plan_changed = True

    @workflow.signal
    async def store_cancelled(self, cancel: OrderCancelled) -> None:
        """Cancelled in the store's admin: the journey ends as support's cancel ends it, without a refund (the
        store made its own). A second cancellation changes nothing."""
        async with self._lock:  # not in the middle of support's action
            if self._state.cancelled_at is not None:
                return
            reason = f"cancelled in the store ({cancel.reason})" if cancel.reason else "cancelled in the store"
            self._end_cancelled(reason, None)

    def _store_actor(self) -> Actor:
        return Actor(name="store", role=Role.MERCHANT, merchant_id=self._inp.order.merchant_id)
