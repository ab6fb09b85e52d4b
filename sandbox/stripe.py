"""A stand-in for Stripe's PaymentIntents and Refunds APIs, speaking Stripe's form encoding, JSON and errors.

Real API (under `/stripe`): `POST /v1/payment_intents` (form `amount`, `currency`, `confirm=true`,
`payment_method`, `metadata[...]`: a confirmed intent succeeds at once with a `latest_charge`; it
stands in for the merchant's checkout), `GET /v1/payment_intents/{id}`, `GET /v1/charges/{id}`,
`POST /v1/refunds` (form `payment_intent` or `charge`, `amount` in minor units (all that is left when
absent), `reason`, `metadata[...]`), `GET /v1/refunds/{id}`, `GET /v1/refunds?payment_intent=&charge=`.
Auth: `Authorization: Bearer <secret key>` (or basic auth with the key as user name).

Accounts: each accepted secret key is its own Stripe account, as with real Stripe. A PaymentIntent, its
charge and its refunds belong to the account whose key created them; any other key is told they do not
exist (404 `resource_missing`, "No such payment_intent"), and a listing shows the caller's own objects
only. Idempotency keys are per account too. With `SandboxState.stripe_state_file` set, every object is
kept in that file and read back at start, so a refund on a payment made before a restart works.

POSTs honour `Idempotency-Key` as Stripe does: the answer is stored under the key and a repeat with
the same parameters gets it back (header `Idempotent-Replayed: true`) without acting twice; the same
key with other parameters is a 400 `idempotency_error`; a repeat while the first is still running is
a 409 `idempotency_key_in_use`.

Test payment method `pm_card_refundFail`: refunds of that payment come back `failed` (Stripe fails
them moments later; the sandbox at once, so the answer shows it).

Sandbox control: `POST /_sandbox/stripe/fail-next`: the next refund calls answer an error without
refunding (500 `api_error`, 429 `rate_limit`...), or refund and then answer the error anyway
(`drop_after_commit`: the answer lost on its way back), or answer late (`delay_seconds`), or create
the refund in another status (`refund_status`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain import currency_exponent
from sandbox.state import SandboxState

API = "/stripe/v1"
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "chf": "CHF "}
REASONS = ("duplicate", "fraudulent", "requested_by_customer")
REFUND_FAILS = "pm_card_refundFail"
ACTED_ERRORS = frozenset({"amount_too_large", "charge_already_refunded"})  # refusals stored under the key
METADATA_KEYS_MAX, METADATA_VALUE_MAX = 50, 500


def error_body(
    message: str, *, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """Stripe's error object: `{"error": {"type", "message", "code", "doc_url", "param"}}`."""
    error: dict[str, Any] = {"type": type_, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return {"error": error}


def stripe_error(status: int, message: str, **fields: Any) -> JSONResponse:
    return JSONResponse(error_body(message, **fields), status_code=status)


def money(minor: int, currency: str) -> str:
    """Stripe's way of writing an amount in messages: €30.00, $25.00, ¥500."""
    currency = currency.lower()
    exponent = currency_exponent(currency)
    value = f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"
    return f"{SYMBOLS[currency]}{value}" if currency in SYMBOLS else f"{value} {currency.upper()}"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def account_id(secret_key: str) -> str:
    """The sandbox account a secret key opens: stable across restarts, and never the key itself."""
    return "acct_" + hashlib.sha256(secret_key.encode()).hexdigest()[:16]


class StripeFailNext(BaseModel):
    """What the next refund calls do instead of simply working.

    `status_code` >= 400: answer that error without refunding, unless `drop_after_commit`: then refund
    and answer the error anyway. A 2xx `status_code` refunds normally; `delay_seconds` answers late
    either way; `refund_status` creates the refund in that status.
    """

    status_code: int = Field(default=500, ge=200, le=599)
    type: str | None = Field(
        default=None, description="Stripe error type; default api_error (5xx) or invalid_request_error"
    )
    code: str | None = Field(default=None, description="Stripe error code; default rate_limit for 429")
    message: str | None = None
    drop_after_commit: bool = False
    delay_seconds: float = Field(default=0, ge=0)
    refund_status: Literal["succeeded", "pending", "requires_action", "failed", "canceled"] | None = None
    count: int = Field(default=1, ge=1)


class _Refused(Exception):
    """A Stripe error answer (status, body), raised from deep in the request handling."""

    def __init__(self, status: int, message: str, **fields: Any) -> None:
        self.status = status
        self.body = error_body(message, **fields)


def _positive_int(raw: str | None, param: str) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        value = 0
    if value < 1:
        raise _Refused(400, "Invalid positive integer", code="parameter_invalid_integer", param=param)
    return value


def _metadata(params: dict[str, str]) -> dict[str, str]:
    found = {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[") and k.endswith("]")}
    if len(found) > METADATA_KEYS_MAX:
        raise _Refused(400, f"Invalid metadata: at most {METADATA_KEYS_MAX} keys", param="metadata")
    for key, value in found.items():
        if len(value) > METADATA_VALUE_MAX:
            text = f"Invalid metadata: values can have up to {METADATA_VALUE_MAX} characters, {key} has {len(value)}"
            raise _Refused(400, text, param=f"metadata[{key}]")
    return found


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()
    state.load_stripe()  # what a previous run kept: payments made before a restart can still be refunded

    def account(request: Request) -> str | JSONResponse:
        """The caller's account (from its secret key), or Stripe's 401 answer."""
        header = request.headers.get("authorization", "")
        key = ""
        if header.lower().startswith("bearer "):
            key = header[7:].strip()
        elif header.lower().startswith("basic "):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                key = base64.b64decode(header[6:]).decode().partition(":")[0]
        if not key:
            return stripe_error(
                401,
                "You did not provide an API key. Provide your secret key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if key not in state.stripe_api_keys:
            shown = f"{key[:8]}****{key[-4:]}" if len(key) > 16 else "****"  # Stripe masks the key it refuses
            return stripe_error(401, f"Invalid API Key provided: {shown}")
        return account_id(key)

    def owned(kind: dict[str, dict[str, Any]], object_id: str, acct: str) -> dict[str, Any] | None:
        """The object if it exists in this account: another account's object is as missing as an unknown one."""
        found = kind.get(object_id)
        return found if found is not None and state.stripe_owners.get(object_id) == acct else None

    async def form_params(request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: str(v) for k, v in form.multi_items()}

    async def idempotent(
        request: Request,
        acct: str,
        params: dict[str, str],
        act: Callable[[], tuple[int, dict[str, Any]]],
        delay: float = 0,
    ) -> JSONResponse:
        """Run `act` once per Idempotency-Key (per account) and store its answer, as Stripe does once it started
        acting: a refund made, or refused on the charge's state. Parameter errors are not stored (Stripe's rule)."""
        key = request.headers.get("idempotency-key")
        if key is None:
            status, body = act()
            await asyncio.sleep(delay)
            return JSONResponse(body, status_code=status)
        signature = {"path": request.url.path, "params": sorted(params.items())}
        slot = f"{acct}:{key}"
        if slot in state.stripe_in_flight:
            return stripe_error(
                409,
                "There is currently another in-progress request using this Idempotent Key (that probably means "
                f"you submitted twice, and the other request is still going through): {key}. Please try again later.",
                code="idempotency_key_in_use",
            )
        stored = state.stripe_idempotency.get(slot)
        if stored is not None:
            if stored["request"] != signature:
                return stripe_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    type_="idempotency_error",
                )
            return JSONResponse(stored["body"], status_code=stored["status"], headers={"Idempotent-Replayed": "true"})
        state.stripe_in_flight.add(slot)
        status, body = 500, {"error": {"type": "api_error", "message": "interrupted"}}
        try:
            status, body = act()
            await asyncio.sleep(delay)  # still running: a repeat now gets the 409
        finally:
            state.stripe_in_flight.discard(slot)
            if status < 400 or body.get("error", {}).get("code") in ACTED_ERRORS:
                state.stripe_idempotency[slot] = {"request": signature, "status": status, "body": body}
            state.save_stripe()
        return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "false"})

    # --- payment intents (the merchant's checkout) ---------------------------------------------

    def create_intent(params: dict[str, str], acct: str) -> tuple[int, dict[str, Any]]:
        try:
            amount = _positive_int(params.get("amount"), "amount")
            currency = params.get("currency", "").strip().lower()
            if len(currency) != 3 or not currency.isalpha():
                raise _Refused(400, "Missing required param: currency.", code="parameter_missing", param="currency")
            metadata = _metadata(params)
        except _Refused as refused:
            return refused.status, refused.body
        now = int(time.time())
        intent_id = new_id("pi")
        confirm = params.get("confirm", "").lower() == "true"
        payment_method = params.get("payment_method") or ("pm_card_visa" if confirm else None)
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount if confirm else 0,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{uuid.uuid4().hex[:24]}",
            "confirmation_method": "automatic",
            "created": now,
            "currency": currency,
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "status": "succeeded" if confirm else "requires_payment_method",
        }
        if confirm:
            charge_id = new_id("ch")
            state.charges[charge_id] = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "captured": True,
                "created": now,
                "currency": currency,
                "livemode": False,
                "metadata": metadata,
                "paid": True,
                "payment_intent": intent_id,
                "payment_method": payment_method,
                "refunded": False,
                "status": "succeeded",
            }
            intent["latest_charge"] = charge_id
            state.stripe_owners[charge_id] = acct
        state.payment_intents[intent_id] = intent
        state.stripe_owners[intent_id] = acct
        state.save_stripe()
        return 200, intent

    @router.post(API + "/payment_intents", tags=["stripe"])
    async def post_payment_intent(request: Request) -> JSONResponse:
        if isinstance(acct := account(request), JSONResponse):
            return acct
        params = await form_params(request)
        return await idempotent(request, acct, params, lambda: create_intent(params, acct))

    def retrieve(kind: str, table: dict[str, dict[str, Any]], param: str) -> Callable[..., Awaitable[JSONResponse]]:
        """Stripe's `GET /v1/<objects>/{id}`: the caller's own object, or 404 as if it did not exist."""

        async def get_one(object_id: str, request: Request) -> JSONResponse:
            if isinstance(acct := account(request), JSONResponse):
                return acct
            if (found := owned(table, object_id, acct)) is None:
                return _missing(kind, object_id, param)
            return JSONResponse(found)

        return get_one

    for path, kind, table, param in (
        ("payment_intents", "payment_intent", state.payment_intents, "intent"),
        ("charges", "charge", state.charges, "id"),
        ("refunds", "refund", state.refunds, "id"),
    ):
        router.add_api_route(
            f"{API}/{path}/{{object_id}}", retrieve(kind, table, param), methods=["GET"], tags=["stripe"]
        )

    # --- refunds ----------------------------------------------------------------------------------

    def create_refund(params: dict[str, str], forced_status: str | None, acct: str) -> tuple[int, dict[str, Any]]:
        try:
            charge = _charge_to_refund(params, acct)
            metadata = _metadata(params)
            reason = params.get("reason") or None
            if reason is not None and reason not in REASONS:
                text = f"Invalid reason: must be one of {', '.join(REASONS[:-1])}, or {REASONS[-1]}"
                raise _Refused(400, text, code="parameter_invalid_string", param="reason")
            left = charge["amount"] - charge["amount_refunded"]
            if left <= 0:
                raise _Refused(400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
            amount = _positive_int(params["amount"], "amount") if "amount" in params else left
            if amount > left:
                text = (
                    f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded amount on "
                    f"charge ({money(left, charge['currency'])})"
                )
                raise _Refused(400, text, code="amount_too_large", param="amount")
        except _Refused as refused:
            return refused.status, refused.body
        status = forced_status or ("failed" if charge.get("payment_method") == REFUND_FAILS else "succeeded")
        refund: dict[str, Any] = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": status,
            "transfer_reversal": None,
        }
        if status in ("failed", "canceled"):
            refund["failure_reason"] = "expired_or_canceled_card" if status == "failed" else None
        else:
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        state.refunds[refund["id"]] = refund
        state.stripe_owners[refund["id"]] = acct
        return 200, refund

    def _charge_to_refund(params: dict[str, str], acct: str) -> dict[str, Any]:
        if params.get("charge"):
            charge = owned(state.charges, params["charge"], acct)
            if charge is None:
                raise _no_such("charge", params["charge"], "charge")
            return charge
        intent_id = params.get("payment_intent")
        if not intent_id:
            text = "One of the following params should be provided for this request: payment_intent or charge."
            raise _Refused(400, text, code="parameter_missing")
        intent = owned(state.payment_intents, intent_id, acct)
        if intent is None:
            raise _no_such("payment_intent", intent_id, "payment_intent")
        charge = state.charges.get(intent.get("latest_charge") or "")
        if charge is None:
            text = f"This PaymentIntent ({intent_id}) does not have a successful charge to refund."
            raise _Refused(400, text, code="charge_not_refundable", param="payment_intent")
        return charge

    @router.post(API + "/refunds", tags=["stripe"])
    async def post_refund(request: Request) -> JSONResponse:
        if isinstance(acct := account(request), JSONResponse):
            return acct
        params = await form_params(request)
        failure = state.stripe_fail_next.pop(0) if state.stripe_fail_next else None
        if failure and failure["count"] > 1:
            state.stripe_fail_next.insert(0, {**failure, "count": failure["count"] - 1})
        if failure is None:
            return await idempotent(request, acct, params, lambda: create_refund(params, None, acct))
        delay = failure["delay_seconds"]
        if failure["status_code"] >= 400:
            error = _scripted_error(failure)
            if failure["drop_after_commit"]:  # Stripe refunded and stored its answer; ours got lost
                await idempotent(
                    request, acct, params, lambda: create_refund(params, failure["refund_status"], acct), delay
                )
            else:  # Stripe failed before acting: nothing stored under the key, a retry acts afresh
                await asyncio.sleep(delay)
            return error
        return await idempotent(
            request, acct, params, lambda: create_refund(params, failure["refund_status"], acct), delay
        )

    @router.get(API + "/refunds", tags=["stripe"])
    async def list_refunds(request: Request) -> JSONResponse:
        """Newest first, this account's only; `limit` 1..100 (default 10), `starting_after` a refund id."""
        if isinstance(acct := account(request), JSONResponse):
            return acct
        params = request.query_params
        found = [
            r for r in reversed(state.refunds.values())
            if state.stripe_owners.get(r["id"]) == acct
            and (not params.get("payment_intent") or r["payment_intent"] == params["payment_intent"])
            and (not params.get("charge") or r["charge"] == params["charge"])
        ]  # fmt: skip
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            text = "Invalid integer: limit must be between 1 and 100"
            return stripe_error(400, text, code="parameter_invalid_integer", param="limit")
        if after := params.get("starting_after"):
            ids = [r["id"] for r in found]
            if after not in ids:
                return _missing("refund", after, "starting_after")
            found = found[ids.index(after) + 1 :]
        return JSONResponse({"object": "list", "data": found[:limit], "has_more": len(found) > limit,
                             "url": "/v1/refunds"})  # fmt: skip

    # --- sandbox control -----------------------------------------------------------------------

    @router.post("/_sandbox/stripe/fail-next", tags=["sandbox"])
    async def fail_next(body: StripeFailNext) -> JSONResponse:
        state.stripe_fail_next.append(body.model_dump())
        return JSONResponse({"queued": state.stripe_fail_next})

    return router


def _no_such(kind: str, object_id: str, param: str) -> _Refused:
    return _Refused(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _missing(kind: str, object_id: str, param: str) -> JSONResponse:
    refused = _no_such(kind, object_id, param)
    return JSONResponse(refused.body, status_code=refused.status)


def _scripted_error(failure: dict[str, Any]) -> JSONResponse:
    status = failure["status_code"]
    type_ = failure["type"] or ("api_error" if status >= 500 else "invalid_request_error")
    code = failure["code"] or ("rate_limit" if status == 429 else None)
    default = (
        "Too many requests hit the API too quickly." if status == 429
        else "Sandbox failure requested by fail-next"
    )  # fmt: skip
    return stripe_error(status, failure["message"] or default, type_=type_, code=code)
