"""`issue_refund`: give a customer money back through the payment provider the order was paid with.

Thin on purpose: the provider connector does the work and makes the refund idempotent (the
instruction's `idempotency_key` goes to the provider, so a retry after a lost answer refunds once).
This activity only picks the provider and tells Temporal which failures are worth retrying:
- the provider refused for good (amount too large, already refunded, unknown payment, bad key...)
  -> a non-retryable `PaymentRefused` carrying the provider's words for the support agent;
- an outage, a rate limit, a timeout -> the PaymentError is raised as is and Temporal retries.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors.payments.base import PaymentError, PaymentProvider
from domain import RefundInstruction, RefundReceipt

PAYMENT_REFUSED = "PaymentRefused"
UNKNOWN_PAYMENT_PROVIDER = "UnknownPaymentProvider"


class PaymentActivities:
    """Holds the payment providers by name; register `instance.issue_refund`."""

    def __init__(self, providers: Mapping[str, PaymentProvider]) -> None:
        self._providers = providers

    @activity.defn(name="issue_refund")
    async def issue_refund(self, instruction: RefundInstruction) -> RefundReceipt:
        provider_name = instruction.payment.provider
        provider = self._providers.get(provider_name)
        if provider is None:
            raise ApplicationError(
                f"no payment provider {provider_name!r} in this worker to refund order {instruction.order_id} "
                f"(known: {sorted(self._providers)})",
                type=UNKNOWN_PAYMENT_PROVIDER,
                non_retryable=True,
            )
        try:
            receipt = await provider.refund(instruction)
        except PaymentError as err:
            if err.retryable:
                raise  # Temporal retries; the idempotency key keeps it to one refund
            details = [{"code": err.code, "status_code": err.status_code}]
            raise ApplicationError(str(err), *details, type=PAYMENT_REFUSED, non_retryable=True) from err
        activity.logger.info(
            "refunded %s %s on order %s/%s: %s (%s)",
            receipt.amount,
            receipt.currency,
            instruction.merchant_id,
            instruction.order_id,
            receipt.refund_id,
            receipt.status,
        )
        return receipt
