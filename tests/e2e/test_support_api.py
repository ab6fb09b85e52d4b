"""Support's actions through the HTTP API and the `aftercare` CLI, on the whole embedded stack: tokens and roles,
a refund paid back by the sandbox's Stripe, refusals in plain words with 409/422, and the action log."""

from __future__ import annotations

import asyncio
import io
import uuid
from argparse import Namespace
from typing import Any

import httpx
import pytest
from rich.console import Console

from aftercare.settings import Settings
from aftercare.support_cli import run as run_cli
from domain import Role
from tests.e2e.conftest import Stack
from tests.e2e.test_journey_e2e import order_payload, wait_for_message, wait_for_stage
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver


async def paid_order(stack: Stack, total: str = "30.00") -> str:
    """An order paid through the sandbox's Stripe, accepted by the API."""
    async with httpx.AsyncClient(
        base_url=stack.sandbox.stripe_base_url, headers={"Authorization": "Bearer sk_test_sandbox"}
    ) as stripe:
        intent = await stripe.post(
            "/v1/payment_intents",
            data={"amount": str(int(float(total) * 100)), "currency": "usd", "confirm": "true"},
        )
        intent.raise_for_status()
    order_id = f"SUP-{uuid.uuid4().hex[:6]}"
    payload = order_payload(order_id) | {"payment": {"provider": "stripe", "reference": intent.json()["id"]}}
    created = await stack.api.post("/v1/orders", json=payload)
    assert created.status_code == 201, created.text
    return order_id


def bearer(stack: Stack, name: str, role: Role, merchant_id: str | None = None) -> dict[str, str]:
    token = stack.store.create_api_token(name, role, merchant_id).token
    return {"Authorization": f"Bearer {token}"}


async def test_actions_need_a_staff_token_of_the_right_role(stack: Stack) -> None:
    order_id = await paid_order(stack)
    body = {"idempotency_key": "k1", "reason": "damaged", "amount": "5.00"}
    url = f"{stack.api.base_url}/v1/orders/{order_id}/refunds"
    async with httpx.AsyncClient() as anonymous:
        missing = await anonymous.post(url, json=body)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert "aftercare token create" in missing.json()["message"]
        engineer = await anonymous.post(url, json=body, headers=bearer(stack, "erin", Role.ENGINEER))
        assert engineer.status_code == 403 and "yours is engineer" in engineer.json()["message"]
        other_shop = await anonymous.post(url, json=body, headers=bearer(stack, "shop", Role.MERCHANT, "elsewhere"))
        assert other_shop.status_code == 404  # another merchant's order answers as a missing one
        # The engineer may read the order, not act on it; nobody anonymous may tell the journey anything.
        readable = await anonymous.get(
            f"{stack.api.base_url}/v1/orders/{order_id}", headers=bearer(stack, "e2", Role.ENGINEER)
        )
        assert readable.status_code == 200
        review = await anonymous.post(f"{stack.api.base_url}/v1/orders/{order_id}/signals/review-submitted", json={})
        assert review.status_code == 401
    state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
    assert state["refunds"] == []  # nothing was refunded by any of them


async def test_refund_over_http_repeat_refusals_and_the_action_log(stack: Stack) -> None:
    order_id = await paid_order(stack)
    support = bearer(stack, "sam", Role.SUPPORT)
    url = f"/v1/orders/{order_id}/refunds"

    done = await stack.api.post(
        url, json={"reason": "damaged", "items": {"li-1": 1}}, headers=support | {"Idempotency-Key": "sam-1"}
    )
    assert done.status_code == 200, done.text
    result, state = done.json()["result"], done.json()["state"]
    assert result["summary"] == "refunded 30.00 USD (damaged)" and result["refund"]["by"]["name"] == "sam"
    assert state["refundable"] == "0.00" and state["refunded_total"] == "30.00"

    again = await stack.api.post(
        url, json={"reason": "damaged", "items": {"li-1": 1}}, headers=support | {"Idempotency-Key": "sam-1"}
    )
    assert again.status_code == 200 and again.json()["result"]["repeated"] is True
    assert again.json()["result"]["refund"]["provider_refund_id"] == result["refund"]["provider_refund_id"]

    more = await stack.api.post(
        url, json={"reason": "goodwill", "amount": "1.00"}, headers=support | {"Idempotency-Key": "sam-2"}
    )
    assert more.status_code == 409 and more.json()["error"] == "fully_refunded"
    assert "30.00 USD of 30.00 USD paid has been refunded already" in more.json()["message"]
    no_key = await stack.api.post(url, json={"reason": "goodwill", "amount": "1.00"}, headers=support)
    assert no_key.status_code == 422 and no_key.json()["error"] == "missing_idempotency_key"
    unknown = await stack.api.post(
        "/v1/orders/NOPE-1/refunds", json={"reason": "late"}, headers=support | {"Idempotency-Key": "sam-9"}
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_order"
    assert "NOPE-1" in unknown.json()["message"]

    # The customer was told once, by email, with the amount.
    await wait_for_message(stack, order_id, "refund_issued")
    refund_mails = [
        e for e in stack.sandbox.state.emails if order_id in (e.text or "") and e.subject.startswith("Your refund of")
    ]
    assert [e.subject for e in refund_mails] == ["Your refund of 30.00 USD is on its way"]

    async def logged() -> list[dict[str, Any]]:
        entries = (await stack.api.get(f"/v1/orders/{order_id}/actions")).json()
        assert [(e["action"], e["outcome"]) for e in entries] == [("refund", "done"), ("refund", "refused")]
        return entries

    entries = await eventually(logged, "the action log")
    assert entries[0]["actor"]["name"] == "sam" and entries[0]["before"]["refundable"] == "30.00"
    assert entries[0]["after"]["refundable"] == "0.00"
    assert entries[1]["reason"].startswith("nothing left to refund")


async def test_the_cli_acts_through_the_api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = await paid_order(stack, total="30.00")
    token = stack.store.create_api_token("terminal", Role.SUPPORT).token
    monkeypatch.setenv("AFTERCARE_TOKEN", token)
    monkeypatch.setenv("AFTERCARE_API_URL", str(stack.api.base_url))

    def cli(command: str, **args: Any) -> tuple[int, str]:
        out = io.StringIO()
        defaults = {"merchant": None, "note": "", "key": None, "items": None, "amount": None}
        code = run_cli(
            Namespace(command=command, order=order_id, **(defaults | args)),
            Settings(),
            console=Console(file=out, width=200),
        )
        return code, out.getvalue()

    code, text = await _in_thread(cli, "refund", amount="7.50", reason="late", key="term-1")
    assert code == 0 and "refunded 7.50 USD (late)" in text and "22.50" in text
    code, text = await _in_thread(cli, "pause", until=None)
    assert code == 0 and "messages paused until resumed" in text

    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    await stack.api.post(f"/v1/orders/{order_id}/shipments", json={"carrier": "easypost", "tracking_number": tracking})
    await wait_for_stage(stack, order_id, "in_transit")
    code, text = await _in_thread(cli, "cancel", reason="changed mind")
    assert code == 1 and "has shipped" in text and "issue a refund" in text

    code, text = await _in_thread(cli, "actions")
    assert code == 0
    for expected in ("refund", "pause_messages", "cancel", "refused", "terminal (support)"):
        assert expected in text


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The CLI is synchronous (httpx.Client); the API it calls runs on this test's event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_idempotency_keys_over_http_one_answer_per_person_and_request(stack: Stack) -> None:
    """Of 20 parallel requests with one key exactly one acts; the key with another request is refused; a merchant
    reusing support's key gets its own answer, never support's."""
    order_id = await paid_order(stack, total="30.00")
    support = bearer(stack, "sam", Role.SUPPORT) | {"Idempotency-Key": "par-1"}
    url = f"/v1/orders/{order_id}/refunds"
    body = {"reason": "late", "amount": "1.00"}

    answers = await asyncio.gather(*(stack.api.post(url, json=body, headers=support) for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers if a.status_code != 200]
    fresh = [a.json()["result"] for a in answers if a.json()["result"]["repeated"] is False]
    assert len(fresh) == 1
    assert {a.json()["result"]["refund"]["provider_refund_id"] for a in answers} == {
        fresh[0]["refund"]["provider_refund_id"]
    }

    reused = await stack.api.post(url, json=body | {"amount": "2.00"}, headers=support)
    assert reused.status_code == 409 and reused.json()["error"] == "idempotency_key_reused"
    assert "'par-1'" in reused.json()["message"] and "use a new key" in reused.json()["message"]

    shop = bearer(stack, "shop", Role.MERCHANT, "e2e") | {"Idempotency-Key": "par-1"}
    theirs = await stack.api.post(url, json=body, headers=shop)
    assert theirs.status_code == 200, theirs.text
    result = theirs.json()["result"]
    assert result["repeated"] is False and result["refund"]["by"]["name"] == "shop"
    assert result["refund"]["provider_refund_id"] != fresh[0]["refund"]["provider_refund_id"]
    made = {result["refund"]["provider_refund_id"], fresh[0]["refund"]["provider_refund_id"]}
    assert sorted(r["amount"] for r in stack.sandbox.state.refunds.values() if r["id"] in made) == [100, 100]
    assert len(stack.sandbox.state.refunds) == 2  # 21 requests from two people: two refunds
    assert (await stack.api.get(f"/v1/orders/{order_id}")).json()["refunded_total"] == "2.00"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("refunds", {"reason": "late", "amount": 1e30}, "amount"),
        ("refunds", {"reason": "late", "amount": "-5"}, "amount"),
        ("refunds", {"reason": "late", "amount": "NaN"}, "amount"),
        ("refunds", {"reason": "late", "items": {f"li-{n}": 1 for n in range(101)}}, "items"),
        ("refunds", {"reason": "late", "note": "x" * 2001}, "note"),
        ("pause", {"until": "2030-01-01T00:00:00"}, "until"),
        ("cancel", {"reason": "r" * 501}, "reason"),
        ("opt-out", {"channels": ["email"] * 50}, "channels"),
        ("opt-out", {"channels": ["email", "sms", "email"]}, "channels"),
        ("notes", {"text": "n" * 4001}, "text"),
        ("exchanges", {"items": [{"item_id": "li-1", "replacement_sku": "S"}] * 101}, "items"),
    ],
)
async def test_support_bodies_are_bounded_and_refusals_name_the_field(
    stack: Stack, path: str, body: dict[str, Any], field: str
) -> None:
    order_id = await paid_order(stack)
    answer = await stack.api.post(f"/v1/orders/{order_id}/{path}", json=body, headers={"Idempotency-Key": "b-1"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert [p["path"].split(".")[0] for p in answer.json()["problems"]] == [field]
    assert (await stack.api.get(f"/v1/orders/{order_id}")).json()["refunds"] == []


async def test_refund_decimals_and_a_second_pause_are_refused_in_words(stack: Stack) -> None:
    order_id = await paid_order(stack)
    refunds = f"/v1/orders/{order_id}/refunds"
    cents = await stack.api.post(refunds, json={"reason": "late", "amount": "1.001"}, headers={"Idempotency-Key": "d"})
    assert cents.status_code == 422 and cents.json()["error"] == "amount"
    assert cents.json()["message"] == "amount must be more than 0 with at most 2 decimals for USD, not 1.001"

    paused = await stack.api.post(f"/v1/orders/{order_id}/pause", json={"until": "2099-01-01T00:00:00+00:00"})
    assert paused.status_code == 422 and paused.json()["error"] == "until_too_far"
    first = await stack.api.post(f"/v1/orders/{order_id}/pause", json={})
    assert first.status_code == 200, first.text
    second = await stack.api.post(f"/v1/orders/{order_id}/pause", json={})
    assert second.status_code == 409 and second.json()["error"] == "already_paused"

    async def logged() -> list[tuple[str, str]]:
        entries = (await stack.api.get(f"/v1/orders/{order_id}/actions")).json()
        got = [(e["action"], e["outcome"]) for e in entries]
        assert len(got) == 4, got
        return got

    assert sorted(await eventually(logged, "the action log")) == sorted(
        [("refund", "refused"), ("pause_messages", "refused"), ("pause_messages", "done"),
         ("pause_messages", "refused")]
    )  # fmt: skip
