"""What every payment connector offers: give money back, and say plainly why it could not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from domain import FoundRefund, PaymentFacts, PaymentRef, RefundInstruction, RefundReceipt


class PaymentError(Exception):
    """The provider did not refund. The message is for a support agent: what, where, and the provider's words.

    `retryable` is True only when asking again with the same idempotency key can help (outage, rate
    limit, lost answer); `code` is the provider's error code (e.g. Stripe's `amount_too_large`) when
    it gave one; `status_code` its HTTP status (None for timeouts and refused connections).
    """

    def __init__(
        self, message: str, *, retryable: bool, code: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.status_code = status_code


class PaymentProvider(Protocol):
    """A payment provider by `name` (the `provider` of a PaymentRef).

    Every call carries the merchant's `credentials` (e.g. `{"secret_key": ...}`), so each merchant acts in
    its own account at the provider and a payment of another account is not found (PaymentError).
    """

    name: str

    async def look_up(self, payment: PaymentRef, credentials: Mapping[str, str] | None = None) -> PaymentFacts:
        """The payment in this merchant's account: currency, captured, refunded so far."""
        ...

    async def refund(
        self, instruction: RefundInstruction, credentials: Mapping[str, str] | None = None
    ) -> RefundReceipt:
        """Refund once per `instruction.idempotency_key`, however often it is called; PaymentError if not."""
        ...

    async def find_refund(
        self, payment: PaymentRef, idempotency_key: str, credentials: Mapping[str, str] | None = None
    ) -> FoundRefund:
        """The refund made under `idempotency_key`, if any: how a refund whose answer was lost is settled."""
        ...

    async def aclose(self) -> None: ...
