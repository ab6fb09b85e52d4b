"""Stripe's HTTP calls: refunds through `POST /v1/refunds`, safe to retry thanks to idempotency keys.

Stripe stores the answer to a request under its `Idempotency-Key` header: the same key with the same
parameters gets the same refund back, never a second one. That is what makes timeouts, 5xx and 429
safe to retry. Requests carry `Authorization: Bearer <secret key>`, the merchant's own.

- `look_up`: `GET /v1/payment_intents/{id}` (amount_received, currency, status) and the refunds already
  made on it (`GET /v1/refunds?payment_intent=`), so the journey never refunds more than was captured.
- `refund`: checks the PaymentIntent's currency first (Stripe refunds in the currency the customer paid
  in: 1000 meant as JPY must not go out as 10.00 USD), then refunds, with our idempotency key also in
  the refund's metadata (`aftercare_key`).
- `find_refund`: finds the refund made under an idempotency key by that metadata, to settle a refund
  whose answer was lost (Stripe keeps idempotency keys for a day only; metadata stays).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.http import VendorHttp
from connectors.payments.base import PaymentError
from connectors.payments.stripe.error import http_error
from connectors.payments.stripe.mapper import (
    captured_amount,
    failure,
    made_under,
    receipt,
    refund_form,
    refunded_amount,
)
from connectors.payments.stripe.units import format_money, to_minor_units
from domain import FoundRefund, PaymentFacts, PaymentRef, RefundInstruction, RefundReceipt

LIST_PAGES_MAX = 50  # 5,000 refunds on one payment: far beyond any order; a bound, not a limit we expect


class StripePayments(VendorHttp):
    """PaymentProvider for Stripe (`name = "stripe"`). Pass `http` to share a client and its pool.

    The default timeout is generous: a refund may take Stripe several seconds, and a timeout only
    costs a retry (the idempotency key makes it safe), while a short one costs many.
    """

    name = "stripe"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """`api_key`: only for callers that act for one account (tests, scripts); the worker passes each
        merchant's key with every call and gives none here."""
        super().__init__(base_url, http, timeout)
        self._api_key = api_key

    def __repr__(self) -> str:  # never show the key, e.g. in a log of the worker's wiring
        return f"StripePayments(base_url={self.base_url!r})"

    def _key(self, credentials: Mapping[str, str] | None, what: str) -> str:
        key = (credentials or {}).get("secret_key") or self._api_key
        if not key:
            raise PaymentError(f"no Stripe secret key to act on {what}: set the merchant's payments.credentials_env",
                               retryable=False, code="no_credentials")  # fmt: skip
        return key

    async def look_up(self, payment: PaymentRef, credentials: Mapping[str, str] | None = None) -> PaymentFacts:
        """The PaymentIntent as this account sees it, with what its refunds took back already.

        Another account's PaymentIntent is a non-retryable PaymentError with code `resource_missing`."""
        what = f"payment {payment.reference}"
        key = self._key(credentials, what)
        intent = await self._get(f"/v1/payment_intents/{quote(payment.reference, safe='')}", what, key)
        currency, captured = captured_amount(intent, payment.reference)
        refunded = refunded_amount(await self._refunds(payment, what, key), currency)
        return PaymentFacts(
            provider=self.name,
            reference=payment.reference,
            currency=currency,
            status=str(intent.get("status") or ""),
            captured=captured,
            refunded=refunded,
        )

    async def find_refund(
        self, payment: PaymentRef, idempotency_key: str, credentials: Mapping[str, str] | None = None
    ) -> FoundRefund:
        """The refund made under `idempotency_key` (by its metadata), or none: what a lost answer really did."""
        what = f"payment {payment.reference}"
        key = self._key(credentials, what)
        for refund in await self._refunds(payment, what, key):
            if made_under(refund, idempotency_key):
                failed = failure(refund, str(refund.get("id")))
                if failed:
                    return FoundRefund(detail=f"Stripe's {failed}")
                return FoundRefund(receipt=receipt(refund, what, self.name))
        return FoundRefund(detail=f"Stripe has no refund on {payment.reference} made under this request's key")

    async def _refunds(self, payment: PaymentRef, what: str, key: str) -> list[dict[str, Any]]:
        """Every refund of the PaymentIntent, newest first, page by page (`starting_after`)."""
        found: list[dict[str, Any]] = []
        params = {"payment_intent": payment.reference, "limit": "100"}
        for _ in range(LIST_PAGES_MAX):
            page = await self._get("/v1/refunds", what, key, params)
            data = page.get("data")
            if not isinstance(data, list):
                raise PaymentError(f"Stripe listed the refunds of {what} without data", retryable=True)
            found.extend(r for r in data if isinstance(r, dict))
            if not page.get("has_more") or not data:
                return found
            params["starting_after"] = str(found[-1].get("id"))
        raise PaymentError(f"more than {LIST_PAGES_MAX * 100} refunds on {what}", retryable=False)

    async def refund(
        self, instruction: RefundInstruction, credentials: Mapping[str, str] | None = None
    ) -> RefundReceipt:
        """Refund `instruction.amount` of the PaymentIntent; once per idempotency key however often called."""
        what = f"{format_money(instruction.amount, instruction.currency)} on {instruction.payment.reference}"
        if instruction.payment.provider != self.name:
            raise PaymentError(
                f"cannot refund {what}: the payment is at {instruction.payment.provider!r}, not Stripe",
                retryable=False,
            )
        key = self._key(credentials, what)
        try:
            minor = to_minor_units(instruction.amount, instruction.currency)
        except ValueError as exc:
            raise PaymentError(f"cannot refund {what}: {exc}", retryable=False) from exc
        # Stripe refunds in the payment's currency whatever we think it is: check before moving money
        intent = await self._get(f"/v1/payment_intents/{quote(instruction.payment.reference, safe='')}", what, key)
        paid_in = str(intent.get("currency") or "").upper()
        if paid_in != instruction.currency.upper():
            raise PaymentError(
                f"cannot refund {what}: the payment was made in {paid_in or 'an unknown currency'}, "
                f"not {instruction.currency.upper()}",
                retryable=False,
                code="currency_mismatch",
            )
        form = refund_form(instruction, minor)
        refund = await self._post("/v1/refunds", form, instruction.idempotency_key, what, key)
        return receipt(refund, what, self.name)

    async def _get(self, path: str, what: str, key: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        resp = await self._send("GET", path, what, key, params=params)
        if not resp.is_success:
            raise http_error(resp, what, "")
        try:
            body = resp.json()
        except ValueError as exc:
            raise PaymentError(f"Stripe answered about {what} with a body that is not JSON", retryable=True) from exc
        if not isinstance(body, dict):
            raise PaymentError(f"Stripe answered about {what} with something that is not an object", retryable=True)
        return body

    async def _post(self, path: str, form: dict[str, str], idempotency_key: str, what: str, key: str) -> dict[str, Any]:
        resp = await self._send("POST", path, what, key, form, {"Idempotency-Key": idempotency_key})
        if resp.is_success:
            try:
                body = resp.json()
            except ValueError as exc:
                raise PaymentError(f"Stripe answered the refund of {what} with a body that is not JSON",
                                   retryable=True, status_code=resp.status_code) from exc  # fmt: skip
            if not isinstance(body, dict) or body.get("object") != "refund":
                raise PaymentError(f"Stripe answered the refund of {what} with something that is not a refund",
                                   retryable=True, status_code=resp.status_code)  # fmt: skip
            return body
        raise http_error(resp, what, idempotency_key)

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        key: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", **(headers or {})}
        try:
            return await self._http.request(
                method, self.base_url + path, data=form, params=params, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise PaymentError(
                f"Stripe did not answer in time refunding {what} ({type(exc).__name__}); "
                "retrying with the same idempotency key refunds at most once",
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            text = f"Stripe unreachable at {self.base_url} refunding {what}: {exc}"
            raise PaymentError(text, retryable=True) from exc
