"""StripePayments against the sandbox's Stripe over real sockets: what the customer gets back, and the errors."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.payments import build_payments
from connectors.payments.base import PaymentError
from connectors.payments.stripe import StripePayments, from_minor_units, to_minor_units
from connectors.payments.stripe.error import http_error
from connectors.payments.stripe.mapper import captured_amount, made_under, receipt, refunded_amount
from domain import PaymentRef, RefundInstruction, RefundReason
from sandbox import RunningSandbox
from tests.sandbox_fixtures import OTHER_STRIPE_KEY, STRIPE_KEY


@pytest.fixture
async def stripe(sandbox: RunningSandbox, stripe_key: str, http: httpx.AsyncClient) -> AsyncIterator[StripePayments]:
    client = StripePayments(sandbox.stripe_base_url, stripe_key, http=http, timeout=2)
    yield client
    await client.aclose()


@pytest.fixture
def pay(control: httpx.AsyncClient, stripe_key: str):
    """Pays an order at the sandbox's Stripe (the merchant's checkout) and returns the PaymentIntent id."""

    async def _pay(amount: int, currency: str = "eur", payment_method: str | None = None) -> str:
        form = {"amount": str(amount), "currency": currency, "confirm": "true", "metadata[order_id]": "1001"}
        if payment_method:
            form["payment_method"] = payment_method
        resp = await control.post(
            "/stripe/v1/payment_intents", data=form, headers={"Authorization": f"Bearer {stripe_key}"}
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["id"]

    return _pay


def refund(
    intent: str, amount: str, currency: str = "EUR", key: str | None = None, **fields: object
) -> RefundInstruction:
    return RefundInstruction.model_validate(
        {
            "idempotency_key": key or f"refund-{uuid.uuid4().hex}",
            "merchant_id": "acme",
            "order_id": "1001",
            "payment": PaymentRef(reference=intent),
            "amount": Decimal(amount),
            "currency": currency,
            "reason": RefundReason.DAMAGED,
            "note": "mug arrived broken",
            "requested_by": "ada@acme.example",
            **fields,
        }
    )


def refunds_of(sandbox: RunningSandbox, intent: str) -> list[dict]:
    return [r for r in sandbox.state.refunds.values() if r["payment_intent"] == intent]


async def test_a_full_refund_gives_the_whole_payment_back(stripe, sandbox, pay):
    intent = await pay(5990)

    instruction = refund(intent, "59.90")
    receipt = await stripe.refund(instruction)

    assert receipt.provider == "stripe" and receipt.refund_id.startswith("re_")
    assert (receipt.amount, receipt.currency, receipt.status) == (Decimal("59.90"), "EUR", "succeeded")
    [stored] = refunds_of(sandbox, intent)
    assert stored["id"] == receipt.refund_id and stored["amount"] == 5990 and stored["currency"] == "eur"
    assert stored["reason"] == "requested_by_customer"  # the only one of Stripe's three that fits
    assert stored["metadata"] == {
        "aftercare_reason": "damaged",
        "merchant_id": "acme",
        "order_id": "1001",
        "requested_by": "ada@acme.example",
        "note": "mug arrived broken",
        "aftercare_key": instruction.idempotency_key,  # how a refund whose answer was lost is found again
    }
    assert sandbox.state.charges[sandbox.state.payment_intents[intent]["latest_charge"]]["refunded"] is True


async def test_partial_refunds_add_up_to_the_payment_and_no_further(stripe, sandbox, pay):
    intent = await pay(5000)

    first = await stripe.refund(refund(intent, "20"))
    second = await stripe.refund(refund(intent, "30.00"))
    with pytest.raises(PaymentError) as caught:
        await stripe.refund(refund(intent, "0.01"))

    assert first.refund_id != second.refund_id
    assert (first.amount, second.amount) == (Decimal("20.00"), Decimal("30.00"))
    assert caught.value.retryable is False and caught.value.code == "charge_already_refunded"
    assert str(caught.value) == (
        f"Stripe refused the refund of 0.01 EUR on {intent}: charge_already_refunded — "
        f"Charge {sandbox.state.payment_intents[intent]['latest_charge']} has already been refunded."
    )
    assert sum(r["amount"] for r in refunds_of(sandbox, intent)) == 5000


async def test_refunding_more_than_is_left_is_refused_in_words_a_support_agent_reads(stripe, sandbox, pay):
    intent = await pay(2000)

    with pytest.raises(PaymentError) as caught:
        await stripe.refund(refund(intent, "30.00"))

    assert str(caught.value) == (
        f"Stripe refused the refund of 30.00 EUR on {intent}: amount_too_large — "
        "Refund amount (€30.00) is greater than unrefunded amount on charge (€20.00)"
    )
    assert (caught.value.retryable, caught.value.code, caught.value.status_code) == (False, "amount_too_large", 400)
    assert refunds_of(sandbox, intent) == []


async def test_an_unknown_payment_intent_is_named(stripe, control):
    with pytest.raises(PaymentError) as caught:
        await stripe.refund(refund("pi_doesnotexist", "10.00"))

    assert str(caught.value) == (
        "Stripe refused the refund of 10.00 EUR on pi_doesnotexist: resource_missing — "
        "No such payment_intent: 'pi_doesnotexist'"
    )
    assert (caught.value.retryable, caught.value.status_code) == (False, 404)


async def test_a_wrong_api_key_is_not_retryable_and_not_repeated_in_the_message(sandbox, pay):
    intent = await pay(1000)
    wrong = StripePayments(sandbox.stripe_base_url, "sk_test_notthekey1234")
    try:
        with pytest.raises(PaymentError, match=r"Stripe rejected the API key \(HTTP 401\)") as caught:
            await wrong.refund(refund(intent, "10.00"))
    finally:
        await wrong.aclose()
    assert caught.value.retryable is False and caught.value.status_code == 401
    assert "sk_test_notthekey1234" not in str(caught.value) and "notthekey1234" not in repr(wrong)
    assert refunds_of(sandbox, intent) == []


async def test_the_same_instruction_twice_refunds_once(stripe, sandbox, pay, control, stripe_key):
    intent = await pay(4000)
    instruction = refund(intent, "15.00", key="order-acme-1001:refund:1")

    first = await stripe.refund(instruction)
    again = await stripe.refund(instruction)

    assert again == first
    listed = await control.get("/stripe/v1/refunds", params={"payment_intent": intent},
                               headers={"Authorization": f"Bearer {stripe_key}"})  # fmt: skip
    assert [r["id"] for r in listed.json()["data"]] == [first.refund_id]


async def test_the_same_key_for_another_amount_is_refused_naming_the_key(stripe, sandbox, pay):
    intent = await pay(4000)
    await stripe.refund(refund(intent, "15.00", key="order-acme-1001:refund:1"))

    with pytest.raises(PaymentError) as caught:
        await stripe.refund(refund(intent, "16.00", key="order-acme-1001:refund:1"))

    assert "idempotency key 'order-acme-1001:refund:1' was already used for a different request" in str(caught.value)
    assert caught.value.retryable is False and caught.value.code == "idempotency_error"
    assert len(refunds_of(sandbox, intent)) == 1


@pytest.mark.parametrize(("status", "words"), [(500, "Stripe failed with HTTP 500"), (429, "rate limit reached")])
async def test_outages_and_rate_limits_are_retryable_and_the_retry_refunds_once(
    stripe, sandbox, pay, control, status, words
):
    intent = await pay(3000)
    instruction = refund(intent, "30.00")
    await control.post("/_sandbox/stripe/fail-next", json={"status_code": status})

    with pytest.raises(PaymentError, match=words) as caught:
        await stripe.refund(instruction)
    assert caught.value.retryable is True and caught.value.status_code == status
    assert refunds_of(sandbox, intent) == []

    receipt = await stripe.refund(instruction)  # Stripe is back
    assert [r["id"] for r in refunds_of(sandbox, intent)] == [receipt.refund_id]


async def test_a_lost_answer_then_a_retry_with_the_same_key_refunds_once(stripe, sandbox, pay, control):
    intent = await pay(3000)
    instruction = refund(intent, "30.00")
    await control.post("/_sandbox/stripe/fail-next", json={"drop_after_commit": True})

    with pytest.raises(PaymentError) as caught:
        await stripe.refund(instruction)
    assert caught.value.retryable is True
    [made] = refunds_of(sandbox, intent)  # Stripe did refund; we just never heard

    receipt = await stripe.refund(instruction)

    assert receipt.refund_id == made["id"] and receipt.amount == Decimal("30.00")
    assert len(refunds_of(sandbox, intent)) == 1


async def test_a_retry_while_the_first_attempt_still_runs_waits_for_it(sandbox, pay, control, stripe_key):
    intent = await pay(3000)
    instruction = refund(intent, "30.00")
    impatient = StripePayments(sandbox.stripe_base_url, stripe_key, timeout=0.3)
    await control.post("/_sandbox/stripe/fail-next", json={"status_code": 200, "delay_seconds": 1.0})
    try:
        with pytest.raises(PaymentError, match="did not answer in time") as timed_out:
            await impatient.refund(instruction)
        with pytest.raises(PaymentError, match="still working on an earlier request") as in_use:
            await impatient.refund(instruction)
        await asyncio.sleep(1.0)
        receipt = await impatient.refund(instruction)
    finally:
        await impatient.aclose()

    assert timed_out.value.retryable is True
    assert in_use.value.retryable is True and in_use.value.status_code == 409
    assert [r["id"] for r in refunds_of(sandbox, intent)] == [receipt.refund_id]


async def test_yen_are_sent_as_whole_yen(stripe, sandbox, pay):
    intent = await pay(5000, "jpy")

    receipt = await stripe.refund(refund(intent, "1200", "JPY"))
    with pytest.raises(PaymentError) as too_much:
        await stripe.refund(refund(intent, "4000", "JPY"))
    with pytest.raises(PaymentError) as fraction:
        await stripe.refund(refund(intent, "12.5", "JPY"))

    assert (receipt.amount, receipt.currency) == (Decimal("1200"), "JPY")
    assert [r["amount"] for r in refunds_of(sandbox, intent)] == [1200]
    assert "Refund amount (¥4000) is greater than unrefunded amount on charge (¥3800)" in str(too_much.value)
    assert str(fraction.value) == f"cannot refund 12.5 JPY on {intent}: 12.5 JPY has more decimals than JPY allows (0)"
    assert fraction.value.retryable is False


async def test_an_instruction_in_another_currency_than_the_payment_moves_no_money(stripe, sandbox, pay):
    intent = await pay(5000, "jpy")

    with pytest.raises(PaymentError) as caught:
        await stripe.refund(refund(intent, "10.00", "USD"))

    assert str(caught.value) == f"cannot refund 10.00 USD on {intent}: the payment was made in JPY, not USD"
    assert caught.value.retryable is False and refunds_of(sandbox, intent) == []


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("19.99", "EUR", 1999), ("20", "usd", 2000), ("500", "JPY", 500), ("1000", "KRW", 1000), ("1.230", "KWD", 1230)],
)
def test_minor_units_follow_the_currency(amount, currency, minor):
    assert to_minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [("10.005", "EUR", "more decimals than EUR allows (2)"), ("1.234", "KWD", "in steps of 0.010")],
)
def test_amounts_a_currency_cannot_hold_are_refused(amount, currency, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        to_minor_units(Decimal(amount), currency)


async def test_a_refund_the_bank_fails_is_not_retryable(stripe, sandbox, pay):
    intent = await pay(1500, payment_method="pm_card_refundFail")

    with pytest.raises(PaymentError) as caught:
        await stripe.refund(refund(intent, "15.00"))

    [failed] = refunds_of(sandbox, intent)
    assert str(caught.value) == (
        f"Stripe could not refund 15.00 EUR on {intent}: refund {failed['id']} is failed (expired_or_canceled_card)"
    )
    assert caught.value.retryable is False


async def test_a_refund_waiting_on_the_customer_is_pending(stripe, pay, control):
    intent = await pay(1500)
    await control.post("/_sandbox/stripe/fail-next", json={"status_code": 200, "refund_status": "requires_action"})

    receipt = await stripe.refund(refund(intent, "15.00"))

    assert receipt.status == "pending"


async def test_a_wrong_base_url_or_a_dead_server_says_so(sandbox, stripe_key, http):
    misplaced = StripePayments(f"{sandbox.http_url}/not-stripe", stripe_key, http=http)
    with pytest.raises(PaymentError, match="check the Stripe base URL") as caught:
        await misplaced.refund(refund("pi_123", "1.00"))
    assert caught.value.retryable is False

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = StripePayments(f"http://127.0.0.1:{port}/stripe", stripe_key)
    with pytest.raises(PaymentError, match=f"Stripe unreachable at http://127.0.0.1:{port}/stripe") as caught:
        await down.refund(refund("pi_123", "1.00"))
    await down.aclose()
    assert caught.value.retryable is True


async def test_build_payments_registers_stripe(sandbox, stripe_key, pay):
    providers = build_payments(sandbox.stripe_base_url, stripe_key)
    assert list(providers) == ["stripe"]
    intent = await pay(700)
    receipt = await providers["stripe"].refund(refund(intent, "7.00"))
    assert receipt.amount == Decimal("7.00")
    await providers["stripe"].aclose()


async def test_each_call_uses_the_key_it_is_given_not_one_for_every_merchant(sandbox, http, pay):
    """The worker's connector has no key of its own: a merchant's key opens that merchant's account only."""
    intent = await pay(4000)
    shared = StripePayments(sandbox.stripe_base_url, http=http, timeout=2)

    facts = await shared.look_up(PaymentRef(reference=intent), {"secret_key": STRIPE_KEY})
    with pytest.raises(PaymentError) as other:
        await shared.look_up(PaymentRef(reference=intent), {"secret_key": OTHER_STRIPE_KEY})
    with pytest.raises(PaymentError) as none:
        await shared.refund(refund(intent, "1.00"))

    assert (facts.captured, facts.refunded, facts.currency) == (Decimal("40.00"), Decimal("0"), "EUR")
    assert other.value.code == "resource_missing" and other.value.status_code == 404
    assert other.value.retryable is False
    assert none.value.code == "no_credentials" and "payments.credentials_env" in str(none.value)
    assert refunds_of(sandbox, intent) == []


# --- Stripe's own objects (fixtures, from its published API reference) through the mapper ----------

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_a_succeeded_refund_is_a_receipt_in_the_currencys_unit():
    refund = fixture("refund_jpy_succeeded")
    got = receipt(refund, "1500 JPY on pi_1", "stripe")
    assert (got.refund_id, got.amount, got.currency, got.status) == (refund["id"], Decimal(1500), "JPY", "succeeded")
    assert got.created_at == datetime.fromtimestamp(1795860000, UTC)
    assert made_under(refund, "order-acme-1001:refund:1") and not made_under(refund, "another key")


def test_a_failed_refund_is_a_refusal_naming_the_reason():
    with pytest.raises(PaymentError) as caught:
        receipt(fixture("refund_failed"), "19.99 EUR on pi_2", "stripe")
    assert str(caught.value) == (
        "Stripe could not refund 19.99 EUR on pi_2: refund re_3QaZy12eZvKYlo2C1Vx9Lp0b is failed "
        "(expired_or_canceled_card)"
    )
    assert caught.value.retryable is False and caught.value.code == "refund_failed"


def test_a_payment_intents_capture_and_refunds_in_three_decimal_units():
    assert captured_amount(fixture("payment_intent_kwd"), "pi_3") == ("KWD", Decimal("12.340"))
    refunds = [{"amount": 1000, "status": "succeeded"}, {"amount": 5000, "status": "failed"}]
    assert refunded_amount(refunds, "KWD") == Decimal("1.000")


def test_an_idempotency_error_is_not_retryable():
    request = httpx.Request("POST", "https://api.stripe.com/v1/refunds")
    err = http_error(httpx.Response(400, json=fixture("error_idempotency"), request=request), "it", "key-1")
    assert str(err).startswith(
        "Stripe refused the refund of it: idempotency key 'key-1' was already used for a different request: "
        "idempotency_error — Keys for idempotent requests"
    )
    assert err.retryable is False and err.code == "idempotency_error" and err.status_code == 400
