"""Payment activities: look a payment up, refund it, and find a refund whose answer was lost.

Thin on purpose: the provider connector does the work and makes the refund idempotent (the
instruction's `idempotency_key` goes to the provider, so a retry after a lost answer refunds once).
These activities pick the provider, read the merchant's own key from the environment variables its
policy names (`payments.credentials_env`; the names travel in the workflow's history, the values never
do), and tell Temporal which failures are worth retrying:
- no key configured for the merchant -> a non-retryable `PaymentNotConfigured` naming the variable;
- the provider refused for good (amount too large, already refunded, unknown payment, bad key...)
  -> a non-retryable `PaymentRefused` carrying the provider's words and code for the support agent;
- an outage, a rate limit, a timeout -> the PaymentError is raised as is and Temporal retries.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors.payments.base import PaymentError, PaymentProvider
from domain import FoundRefund, PaymentFacts, PaymentLookup, PaymentRef, RefundInstruction, RefundReceipt
from domain.payments import PAYMENT_NOT_CONFIGURED, PAYMENT_REFUSED

UNKNOWN_PAYMENT_PROVIDER = "UnknownPaymentProvider"

T = TypeVar("T")


class PaymentActivities:
    """Holds the payment providers by name; register `look_up_payment`, `issue_refund` and `find_refund`.

    `environ` is where merchants' keys are read (the worker's environment by default)."""

    def __init__(self, providers: Mapping[str, PaymentProvider], environ: Mapping[str, str] | None = None) -> None:
        self._providers = providers
        self._environ = os.environ if environ is None else environ

    @activity.defn(name="look_up_payment")
    async def look_up_payment(self, lookup: PaymentLookup) -> PaymentFacts:
        provider, credentials = self._for(lookup.merchant_id, lookup.order_id, lookup.payment, lookup.credentials_env)
        return await _refused_for_good(provider.look_up(lookup.payment, credentials))

    @activity.defn(name="issue_refund")
    async def issue_refund(self, instruction: RefundInstruction) -> RefundReceipt:
        provider, credentials = self._for(
            instruction.merchant_id, instruction.order_id, instruction.payment, instruction.credentials_env
        )
        receipt = await _refused_for_good(provider.refund(instruction, credentials))
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

    @activity.defn(name="find_refund")
    async def find_refund(self, lookup: PaymentLookup) -> FoundRefund:
        provider, credentials = self._for(lookup.merchant_id, lookup.order_id, lookup.payment, lookup.credentials_env)
        return await _refused_for_good(provider.find_refund(lookup.payment, lookup.idempotency_key, credentials))

    def _for(
        self, merchant_id: str, order_id: str, payment: PaymentRef, credentials_env: Mapping[str, str]
    ) -> tuple[PaymentProvider, dict[str, str]]:
        """The provider and this merchant's credentials, read from the variables its policy names."""
        provider = self._providers.get(payment.provider)
        if provider is None:
            raise ApplicationError(
                f"no payment provider {payment.provider!r} in this worker to act on order {order_id} "
                f"(known: {sorted(self._providers)})",
                type=UNKNOWN_PAYMENT_PROVIDER,
                non_retryable=True,
            )
        if not credentials_env:
            raise ApplicationError(
                f"merchant {merchant_id}'s policy names no payment credentials: add payments.credentials_env "
                f"(e.g. {{secret_key: {_env_name(merchant_id)}_STRIPE_SECRET_KEY}}) and set that "
                f"variable on the worker",
                type=PAYMENT_NOT_CONFIGURED,
                non_retryable=True,
            )
        unset = sorted(var for var in credentials_env.values() if not self._environ.get(var))
        if unset:
            raise ApplicationError(
                f"merchant {merchant_id}'s payment credentials are not set on the worker: "
                f"{', '.join(unset)} (named by the policy's payments.credentials_env)",
                type=PAYMENT_NOT_CONFIGURED,
                non_retryable=True,
            )
        return provider, {name: self._environ[var] for name, var in credentials_env.items()}


def _env_name(merchant_id: str) -> str:
    """A merchant id as the start of an environment variable name, for the hint: `acme-eu` -> `ACME_EU`."""
    return re.sub(r"[^A-Z0-9]+", "_", merchant_id.upper())


async def _refused_for_good(call: Awaitable[T]) -> T:
    """A provider's final no becomes a non-retryable PaymentRefused; anything else is retried by Temporal."""
    try:
        return await call
    except PaymentError as err:
        if err.retryable:
            raise  # Temporal retries; idempotency keys keep a refund to one
        details = [{"code": err.code, "status_code": err.status_code}]
        raise ApplicationError(str(err), *details, type=PAYMENT_REFUSED, non_retryable=True) from err


__all__ = ["PAYMENT_NOT_CONFIGURED", "PAYMENT_REFUSED", "PaymentActivities"]
