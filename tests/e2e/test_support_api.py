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
