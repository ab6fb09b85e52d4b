"""Stripe payment connector: refunds through `POST /v1/refunds`, safe to retry thanks to idempotency keys.

Stripe takes form-encoded requests, amounts as integers in the currency's minor unit (cents; yen for
the zero-decimal currencies), `Authorization: Bearer <secret key>`, and stores the answer to a request
under its `Idempotency-Key` header: the same key with the same parameters gets the same refund back,
never a second one. That is what makes timeouts, 5xx and 429 safe to retry. Errors come back as
`{"error": {"type", "code", "message", "param"}}`.

Every call is made with the merchant's own secret key (`credentials["secret_key"]`, read by the worker
from the variable the merchant's policy names): a PaymentIntent of another Stripe account answers 404
`resource_missing`, so a merchant can neither see nor refund another merchant's payment.

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
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from connectors.payments.base import PaymentError
from domain import FoundRefund, PaymentFacts, PaymentRef, RefundInstruction, RefundReason, RefundReceipt
from domain.payments import currency_exponent

# Stripe accepts only duplicate | fraudulent | requested_by_customer. Ours are all the customer's case
# (fraudulent would also block the card), so ours goes along in metadata for the merchant's records.
STRIPE_REASON: dict[RefundReason, str] = {reason: "requested_by_customer" for reason in RefundReason}
METADATA_VALUE_MAX = 500  # Stripe's limit on a metadata value
KEY_METADATA = "aftercare_key"  # our idempotency key, kept on the refund so a lost answer can be found again
LIST_PAGES_MAX = 50  # 5,000 refunds on one payment: far beyond any order; a bound, not a limit we expect

# Refund statuses: `requires_action` waits on the customer (e.g. bank details), so it is still on its way.
PENDING_STATUSES = frozenset({"pending", "requires_action"})
FAILED_STATUSES = frozenset({"failed", "canceled"})

__all__ = ["StripePayments", "currency_exponent", "format_money", "from_minor_units", "to_minor_units"]


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in Stripe's minor unit; ValueError naming the amount if the currency cannot hold it."""
    exponent = currency_exponent(currency)
    try:
        scaled = amount.scaleb(exponent)
        exact = scaled == scaled.to_integral_value()
    except InvalidOperation:
        exact = False
    if not exact:
        raise ValueError(f"{amount} {currency.upper()} has more decimals than {currency.upper()} allows ({exponent})")
    minor = int(scaled)
    if exponent == 3 and minor % 10:
        raise ValueError(f"{amount} {currency.upper()}: Stripe takes {currency.upper()} amounts in steps of 0.010")
    return minor


def from_minor_units(minor: int, currency: str) -> Decimal:
    """A Stripe minor-unit integer back as a Decimal in the currency's unit (1999 EUR cents -> 19.99)."""
    return Decimal(minor).scaleb(-currency_exponent(currency))


def format_money(amount: Decimal, currency: str) -> str:
    """`30.00 EUR`, `500 JPY`: the way a support agent reads an amount (never rounded: 12.5 JPY stays 12.5)."""
    exponent = amount.as_tuple().exponent
    places = max(currency_exponent(currency), -exponent if isinstance(exponent, int) else 0)
    return f"{amount:.{places}f} {currency.upper()}"


class StripePayments:
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
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None

    def __repr__(self) -> str:  # never show the key, e.g. in a log of the worker's wiring
        return f"StripePayments(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

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
        try:
            currency = str(intent["currency"]).upper()
            captured = from_minor_units(int(intent.get("amount_received") or 0), currency)
        except (KeyError, TypeError, ValueError) as exc:
            raise PaymentError(f"Stripe's PaymentIntent {payment.reference} lacks {exc}", retryable=True) from exc
        refunded = sum(
            (int(r.get("amount") or 0) for r in await self._refunds(payment, what, key)
             if str(r.get("status")) not in FAILED_STATUSES),
            0,
        )  # fmt: skip
        return PaymentFacts(
            provider=self.name,
            reference=payment.reference,
            currency=currency,
            status=str(intent.get("status") or ""),
            captured=captured,
            refunded=from_minor_units(refunded, currency),
        )

    async def find_refund(
        self, payment: PaymentRef, idempotency_key: str, credentials: Mapping[str, str] | None = None
    ) -> FoundRefund:
        """The refund made under `idempotency_key` (by its metadata), or none: what a lost answer really did."""
        what = f"payment {payment.reference}"
        key = self._key(credentials, what)
        for refund in await self._refunds(payment, what, key):
            metadata = refund.get("metadata")
            if isinstance(metadata, dict) and metadata.get(KEY_METADATA) == idempotency_key:
                status = str(refund.get("status") or "")
                if status in FAILED_STATUSES:
                    reason = refund.get("failure_reason")
                    said = f" ({reason})" if reason else ""
                    return FoundRefund(detail=f"Stripe's refund {refund.get('id')} is {status}{said}")
                return FoundRefund(receipt=self._receipt(refund, what))
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
        form = {
            "payment_intent": instruction.payment.reference,
            "amount": str(minor),
            "reason": STRIPE_REASON[instruction.reason],
            **_metadata(instruction),
        }
        refund = await self._post("/v1/refunds", form, instruction.idempotency_key, what, key)
        return self._receipt(refund, what)

    async def _get(self, path: str, what: str, key: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        resp = await self._send("GET", path, what, key, params=params)
        if not resp.is_success:
            raise _http_error(resp, what, "")
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
        raise _http_error(resp, what, idempotency_key)

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

    def _receipt(self, refund: dict[str, Any], what: str) -> RefundReceipt:
        status = str(refund.get("status") or "")
        refund_id = str(refund.get("id") or "")
        if status in FAILED_STATUSES:
            reason = refund.get("failure_reason")
            said = f" ({reason})" if reason else ""
            raise PaymentError(
                f"Stripe could not refund {what}: refund {refund_id} is {status}{said}",
                retryable=False,
                code=f"refund_{status}",
            )
        if status != "succeeded" and status not in PENDING_STATUSES:
            raise PaymentError(f"Stripe answered the refund of {what} with an unknown status {status!r}",
                               retryable=True)  # fmt: skip
        try:
            currency = str(refund["currency"]).upper()
            amount = from_minor_units(int(refund["amount"]), currency)
            created = datetime.fromtimestamp(int(refund["created"]), UTC)
        except (KeyError, TypeError, ValueError) as exc:
            raise PaymentError(f"Stripe's refund {refund_id} for {what} lacks {exc}", retryable=True) from exc
        return RefundReceipt(
            provider=self.name,
            refund_id=refund_id,
            amount=amount,
            currency=currency,
            status="succeeded" if status == "succeeded" else "pending",
            created_at=created,
        )


def _metadata(instruction: RefundInstruction) -> dict[str, str]:
    """Why, who, and which order, as Stripe metadata (empty values would unset keys, so they are left out)."""
    values = {
        "aftercare_reason": instruction.reason.value,
        "merchant_id": instruction.merchant_id,
        "order_id": instruction.order_id,
        "requested_by": instruction.requested_by,
        "note": instruction.note,
        KEY_METADATA: instruction.idempotency_key,
    }
    return {f"metadata[{k}]": v[:METADATA_VALUE_MAX] for k, v in values.items() if v}


def _http_error(resp: httpx.Response, what: str, idempotency_key: str) -> PaymentError:
    """One PaymentError per HTTP failure, retryable only when asking again with the same key can help."""
    err: dict[str, Any] = {}
    try:
        body = resp.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
    except ValueError:
        pass
    status = resp.status_code
    message = str(err.get("message") or "").strip()
    kind = str(err.get("type") or "")
    code = str(err.get("code") or kind) or None
    said = f": {code} — {message}" if code and message else f": {message or code}" if message or code else ""
    if not err and status == 404:
        text = f"Stripe API not found at {resp.request.url} (HTTP 404): check the Stripe base URL"
        return PaymentError(text, retryable=False, status_code=status)
    if status == 401:
        text, retryable = f"Stripe rejected the API key (HTTP 401){said}; check the Stripe secret key", False
    elif status == 403:
        text, retryable = f"Stripe's API key may not refund {what} (HTTP 403){said}", False
    elif kind == "idempotency_error":
        text = (
            f"Stripe refused the refund of {what}: idempotency key {idempotency_key!r} was already used "
            f"for a different request{said}"
        )
        retryable = False
    elif status == 409:
        # `idempotency_key_in_use`: a request with this key is still running at Stripe (e.g. the
        # attempt that timed out). Asking again later returns that request's answer.
        text = (
            f"Stripe is still working on an earlier request with idempotency key {idempotency_key!r} "
            f"refunding {what} (HTTP 409){said}"
        )
        retryable = True
    elif status == 429:
        text, retryable = f"Stripe rate limit reached refunding {what} (HTTP 429){said}", True
    elif status >= 500:
        text, retryable = f"Stripe failed with HTTP {status} refunding {what}{said}", True
    else:
        text, retryable = f"Stripe refused the refund of {what}{said}", False
    return PaymentError(text, retryable=retryable, code=code, status_code=status)
