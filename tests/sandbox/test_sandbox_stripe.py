"""The Stripe stand-in speaks Stripe: form-encoded requests, PaymentIntent/Refund JSON, errors, idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox import RunningSandbox, SandboxState, run_sandbox
from tests.sandbox_fixtures import OTHER_STRIPE_KEY


@pytest.fixture
async def stripe(sandbox: RunningSandbox, stripe_key: str, control) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stripe_key}"}
    async with httpx.AsyncClient(base_url=f"{sandbox.stripe_base_url}/v1", headers=headers, timeout=5) as client:
        yield client


async def paid(stripe: httpx.AsyncClient, amount: int = 5000, currency: str = "eur") -> dict:
    resp = await stripe.post("/payment_intents", data={"amount": amount, "currency": currency, "confirm": "true",
                                                       "metadata[order_id]": "1001"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_confirmed_payment_intent_is_paid_with_a_charge(stripe):
    intent = await paid(stripe, 5990)

    assert intent["object"] == "payment_intent" and intent["id"].startswith("pi_")
    assert (intent["status"], intent["amount"], intent["amount_received"]) == ("succeeded", 5990, 5990)
    assert intent["currency"] == "eur" and intent["metadata"] == {"order_id": "1001"}
    assert (await stripe.get(f"/payment_intents/{intent['id']}")).json() == intent
    charge = (await stripe.get(f"/charges/{intent['latest_charge']}")).json()
    assert (charge["amount"], charge["amount_refunded"], charge["payment_intent"]) == (5990, 0, intent["id"])

    unconfirmed = (await stripe.post("/payment_intents", data={"amount": 100, "currency": "eur"})).json()
    assert unconfirmed["status"] == "requires_payment_method" and unconfirmed["latest_charge"] is None
    refused = await stripe.post("/refunds", data={"payment_intent": unconfirmed["id"]})
    assert refused.status_code == 400 and "does not have a successful charge" in refused.json()["error"]["message"]


async def test_refunds_need_a_valid_secret_key(sandbox, stripe, control):
    intent = await paid(stripe)
    async with httpx.AsyncClient(base_url=f"{sandbox.stripe_base_url}/v1") as anonymous:
        missing = await anonymous.post("/refunds", data={"payment_intent": intent["id"]})
        wrong = await anonymous.post("/refunds", data={"payment_intent": intent["id"]},
                                     headers={"Authorization": "Bearer sk_test_wrongwrongwrong9876"})  # fmt: skip

    assert missing.status_code == 401 and "did not provide an API key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "invalid_request_error"
    assert wrong.json()["error"]["message"].startswith("Invalid API Key provided: sk_test_")
    assert "wrongwrongwrong" not in wrong.text  # Stripe masks the key it refuses
    assert sandbox.state.refunds == {}


async def test_a_refund_without_amount_refunds_what_is_left(stripe):
    intent = await paid(stripe, 5000)
    first = (await stripe.post("/refunds", data={"payment_intent": intent["id"], "amount": 1200})).json()

    rest = (await stripe.post("/refunds", data={"payment_intent": intent["id"], "reason": "duplicate"})).json()

    assert (first["object"], first["status"], first["amount"]) == ("refund", "succeeded", 1200)
    assert (rest["amount"], rest["reason"], rest["charge"]) == (3800, "duplicate", intent["latest_charge"])
    assert (await stripe.get(f"/refunds/{rest['id']}")).json() == rest
    listed = (await stripe.get("/refunds", params={"payment_intent": intent["id"]})).json()
    assert listed["object"] == "list" and [r["id"] for r in listed["data"]] == [rest["id"], first["id"]]
    charge = (await stripe.get(f"/charges/{intent['latest_charge']}")).json()
    assert (charge["amount_refunded"], charge["refunded"]) == (5000, True)
    again = await stripe.post("/refunds", data={"payment_intent": intent["id"]})
    assert again.status_code == 400 and again.json()["error"]["code"] == "charge_already_refunded"


@pytest.mark.parametrize(
    ("form", "status", "code", "param"),
    [
        ({"payment_intent": "pi_nope"}, 404, "resource_missing", "payment_intent"),
        ({"amount": "100"}, 400, "parameter_missing", None),
        ({"payment_intent": "PAID", "amount": "-5"}, 400, "parameter_invalid_integer", "amount"),
        ({"payment_intent": "PAID", "amount": "9999"}, 400, "amount_too_large", "amount"),
        ({"payment_intent": "PAID", "reason": "damaged"}, 400, "parameter_invalid_string", "reason"),
    ],
)
async def test_bad_refunds_are_refused_as_stripe_does(sandbox, stripe, form, status, code, param):
    intent = await paid(stripe, 5000)
    form = {k: intent["id"] if v == "PAID" else v for k, v in form.items()}

    resp = await stripe.post("/refunds", data=form)

    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error.get("param") == param
    assert error["type"] == "invalid_request_error" and error["message"]
    assert sandbox.state.refunds == {}


async def test_the_same_idempotency_key_replays_the_first_answer(sandbox, stripe):
    intent = await paid(stripe, 5000)
    form = {"payment_intent": intent["id"], "amount": "1000"}
    key = {"Idempotency-Key": "refund-1"}

    first = await stripe.post("/refunds", data=form, headers=key)
    again = await stripe.post("/refunds", data=form, headers=key)
    other = await stripe.post("/refunds", data={**form, "amount": "2000"}, headers=key)

    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert first.headers["Idempotent-Replayed"] == "false"
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    assert "Try using a key other than 'refund-1'" in other.json()["error"]["message"]
    assert len(sandbox.state.refunds) == 1


async def test_a_request_refused_for_its_parameters_is_not_stored_under_its_key(sandbox, stripe):
    intent = await paid(stripe, 5000)
    key = {"Idempotency-Key": "refund-typo"}

    typo = await stripe.post("/refunds", data={"payment_intent": intent["id"], "amount": "1O0"}, headers=key)
    fixed = await stripe.post("/refunds", data={"payment_intent": intent["id"], "amount": "100"}, headers=key)

    assert typo.status_code == 400 and fixed.status_code == 200 and fixed.json()["amount"] == 100


async def test_fail_next_answers_errors_as_stripe_would(sandbox, stripe, control):
    intent = await paid(stripe, 5000)
    await control.post("/_sandbox/stripe/fail-next", json={"status_code": 429, "count": 2})

    limited = [await stripe.post("/refunds", data={"payment_intent": intent["id"]}) for _ in range(2)]
    works = await stripe.post("/refunds", data={"payment_intent": intent["id"]})

    assert [r.status_code for r in limited] == [429, 429]
    assert limited[0].json()["error"]["code"] == "rate_limit"
    assert works.status_code == 200 and len(sandbox.state.refunds) == 1


async def test_payments_and_refunds_show_on_the_outbox_and_go_with_reset(stripe, control):
    intent = await paid(stripe, 5000)
    form = {"payment_intent": intent["id"], "amount": "1995", "metadata[aftercare_reason]": "damaged",
            "metadata[note]": "cracked <mug>"}  # fmt: skip
    await stripe.post("/refunds", data=form)

    data = (await control.get("/outbox.json")).json()
    page = (await control.get("/outbox")).text

    assert [p["id"] for p in data["payment_intents"]] == [intent["id"]]
    assert [r["amount"] for r in data["refunds"]] == [1995]
    assert "Payments (1) and refunds (1)" in page
    assert "€50.00" in page and "€19.95" in page and "damaged · cracked &lt;mug&gt;" in page

    await control.post("/_sandbox/reset")
    data = (await control.get("/outbox.json")).json()
    assert data["payment_intents"] == [] and data["refunds"] == []


async def test_healthz_names_the_stripe_stand_in(sandbox, control):
    assert (await control.get("/healthz")).json()["stripe"] == sandbox.stripe_base_url


async def test_each_secret_key_is_its_own_account(sandbox, stripe):
    """Another merchant's key sees none of this account's payments: 404 as for a payment that never existed."""
    intent = await paid(stripe, 5000)
    refund = (await stripe.post("/refunds", data={"payment_intent": intent["id"], "amount": "100"})).json()
    other_key = {"Authorization": f"Bearer {OTHER_STRIPE_KEY}"}
    async with httpx.AsyncClient(base_url=f"{sandbox.stripe_base_url}/v1", headers=other_key) as other:
        seen = await other.get(f"/payment_intents/{intent['id']}")
        charge = await other.get(f"/charges/{intent['latest_charge']}")
        refunded = await other.post("/refunds", data={"payment_intent": intent["id"]})
        listed = (await other.get("/refunds", params={"payment_intent": intent["id"]})).json()
        one = await other.get(f"/refunds/{refund['id']}")

    assert seen.status_code == 404 and seen.json()["error"]["code"] == "resource_missing"
    assert seen.json()["error"]["message"] == f"No such payment_intent: '{intent['id']}'"
    assert (charge.status_code, refunded.status_code, one.status_code) == (404, 404, 404)
    assert refunded.json()["error"]["param"] == "payment_intent"
    assert listed["data"] == []
    assert [r["id"] for r in sandbox.state.refunds.values()] == [refund["id"]]  # nothing more was refunded


async def test_idempotency_keys_belong_to_their_account(sandbox, stripe):
    """The same Idempotency-Key in another account is another request, as at Stripe."""
    ours = await paid(stripe, 5000)
    other_key = {"Authorization": f"Bearer {OTHER_STRIPE_KEY}"}
    async with httpx.AsyncClient(base_url=f"{sandbox.stripe_base_url}/v1", headers=other_key) as other:
        theirs = await paid(other, 3000)
        key = {"Idempotency-Key": "refund-1"}
        first = await stripe.post("/refunds", data={"payment_intent": ours["id"]}, headers=key)
        second = await other.post("/refunds", data={"payment_intent": theirs["id"]}, headers=key)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["amount"], second.json()["amount"]) == (5000, 3000)
    assert second.headers["Idempotent-Replayed"] == "false"


async def test_refunds_list_pages_with_starting_after(stripe):
    intent = await paid(stripe, 5000)
    made = [(await stripe.post("/refunds", data={"payment_intent": intent["id"], "amount": "100"})).json()["id"]
            for _ in range(3)]  # fmt: skip

    page = (await stripe.get("/refunds", params={"payment_intent": intent["id"], "limit": 2})).json()
    rest = (await stripe.get("/refunds", params={"payment_intent": intent["id"], "limit": 2,
                                                 "starting_after": page["data"][-1]["id"]})).json()  # fmt: skip

    assert page["has_more"] and not rest["has_more"]
    assert [r["id"] for r in page["data"] + rest["data"]] == made[::-1]


async def test_payments_survive_a_restart_when_kept_on_disk(tmp_path):
    """A refund on a payment made before the sandbox restarted works (the issue's 502 "No such payment_intent")."""
    kept = tmp_path / "sandbox" / "stripe.json"

    async def started() -> Any:
        state = SandboxState(stripe_api_keys={"sk_test_kept"}, stripe_state_file=kept)
        return run_sandbox("127.0.0.1", 0, 0, "http://unused", "secret", state=state)

    headers = {"Authorization": "Bearer sk_test_kept"}
    async with (
        await started() as first,
        httpx.AsyncClient(base_url=f"{first.stripe_base_url}/v1", headers=headers) as c,
    ):
        intent = await paid(c, 2500)
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert "sk_test_kept" not in kept.read_text()  # accounts are named by id, never by their key

    async with (
        await started() as second,
        httpx.AsyncClient(base_url=f"{second.stripe_base_url}/v1", headers=headers) as c,
    ):
        again = await c.get(f"/payment_intents/{intent['id']}")
        refund = await c.post("/refunds", data={"payment_intent": intent["id"], "amount": "500"})
    assert again.json() == intent
    assert refund.status_code == 200, refund.text
    assert refund.json()["amount"] == 500
