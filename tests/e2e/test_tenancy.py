"""Many merchants, no trust, on the whole embedded stack: one merchant never reaches another's journey, not
even by an id that happens to spell the same, and an anonymous caller changes no journey."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from domain import Role, journey_id, legacy_journey_id
from policies.loader import load_policy_text
from tests.e2e.conftest import E2E_POLICY, Stack
from tests.e2e.test_journey_e2e import order_payload, wait_for_stage
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver


def bearer(stack: Stack, role: Role, merchant_id: str | None = None) -> dict[str, str]:
    token = stack.store.create_api_token(f"{role.value}-{uuid.uuid4().hex[:6]}", role, merchant_id).token
    return {"Authorization": f"Bearer {token}"}


def add_merchant(stack: Stack, merchant_id: str) -> None:
    policy = E2E_POLICY.replace("id: e2e\n", f"id: {merchant_id}\n")
    stack.services.policies[merchant_id] = load_policy_text(policy, f"{merchant_id}.yaml")  # type: ignore[index]


def order_of(merchant_id: str, order_id: str, email: str) -> dict[str, Any]:
    return order_payload(order_id, email=email) | {"merchant_id": merchant_id}


async def test_ids_that_spell_alike_get_their_own_journeys(stack: Stack) -> None:
    """acme's order `eu-0aff` and acme-eu's order `0aff` once shared the journey `order-acme-eu-0aff`: acme-eu's
    token then read acme's customer. Each now has its own journey and sees only its own."""
    tail = uuid.uuid4().hex[:6]
    add_merchant(stack, "e2e-eu")
    ours = await stack.api.post("/v1/orders", json=order_of("e2e", f"eu-{tail}", "first@example.com"))
    theirs = await stack.api.post("/v1/orders", json=order_of("e2e-eu", tail, "second@example.com"))
    assert ours.status_code == 201 and theirs.status_code == 201, (ours.text, theirs.text)
    assert legacy_journey_id("e2e", f"eu-{tail}") == legacy_journey_id("e2e-eu", tail)  # the old collision
    assert ours.json()["workflow_id"] == journey_id("e2e", f"eu-{tail}")
    assert theirs.json()["workflow_id"] == journey_id("e2e-eu", tail) != ours.json()["workflow_id"]

    eu = bearer(stack, Role.MERCHANT, "e2e-eu")
    state = (await stack.api.get(f"/v1/orders/{tail}", headers=eu)).json()
    assert (state["merchant_id"], state["order_id"]) == ("e2e-eu", tail)
    both = [
        (await stack.env.client.get_workflow_handle(r.json()["workflow_id"]).describe()).status for r in (ours, theirs)
    ]
    assert all(s is not None and s.name == "RUNNING" for s in both)


async def test_another_merchants_order_answers_exactly_like_a_missing_one(stack: Stack) -> None:
    order_id = f"T-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    stranger = bearer(stack, Role.MERCHANT, "elsewhere")
    missing_id = f"NO-{uuid.uuid4().hex[:6]}"
    for method, path, body in [
        ("GET", "/v1/orders/{id}", None),
        ("GET", "/v1/orders/{id}/actions", None),
        ("POST", "/v1/orders/{id}/refunds", {"idempotency_key": "k", "reason": "damaged", "amount": "1.00"}),
        ("POST", "/v1/orders/{id}/pause", {}),
        ("POST", "/v1/orders/{id}/shipments", {"carrier": "easypost", "tracking_number": "EZ1000000001"}),
        ("POST", "/v1/orders/{id}/signals/reordered", {}),
        ("POST", "/v1/orders/{id}/signals/review-submitted", {}),
    ]:
        for merchant_query in ("", "?merchant_id=e2e"):
            answers = []
            for oid in (order_id, missing_id):
                url = path.format(id=oid) + merchant_query
                response = await stack.api.request(method, url, json=body, headers=stranger)
                answers.append((response.status_code, response.json()["error"], response.json()["message"]))
            (status, code, message), (missing_status, missing_code, missing_message) = answers
            assert (status, code) == (missing_status, missing_code) == (404, "unknown_order"), (path, answers)
            assert message == missing_message.replace(missing_id, order_id), (path, answers)
    state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
    assert state["refunds"] == [] and state["parcels"] == [] and not state["preferences"]["paused"]


async def test_a_merchant_token_learns_no_other_merchants_name(stack: Stack) -> None:
    stranger = bearer(stack, Role.MERCHANT, "nopolicy")
    refused = await stack.api.post(
        "/v1/orders", json=order_payload("N-1") | {"merchant_id": "nopolicy"}, headers=stranger
    )
    assert refused.status_code == 422 and refused.json()["error"] == "unknown_merchant"
    assert "e2e" not in refused.json()["message"]
    assert stack.store.get_order("nopolicy", "N-1") is None


async def test_no_anonymous_caller_changes_a_journey(stack: Stack) -> None:
    """The store's facts (a review written, a reorder) switched off the review request and reorder reminders
    for anyone, and ~30 anonymous 2 MB posts ended a journey. They need the merchant's token now, with
    bounded lists."""
    order_id = f"A-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    await wait_for_stage(stack, order_id, "awaiting_fulfillment")
    async with httpx.AsyncClient(base_url=str(stack.api.base_url)) as anonymous:
        for signal in ("review-submitted", "reordered"):
            response = await anonymous.post(f"/v1/orders/{order_id}/signals/{signal}", json={})
            assert response.status_code == 401, response.text
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    history = await stack.env.client.get_workflow_handle(journey_id("e2e", order_id)).fetch_history()
    assert not [e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]

    merchant = bearer(stack, Role.MERCHANT, "e2e")
    huge = {"skus": [f"SKU-{n}" for n in range(200_000)]}
    too_many = await stack.api.post(f"/v1/orders/{order_id}/signals/reordered", json=huge, headers=merchant)
    assert too_many.status_code in (413, 422), too_many.text
    if too_many.status_code == 422:
        assert "skus" in too_many.text
    too_long = await stack.api.post(
        f"/v1/orders/{order_id}/signals/review-submitted", json={"item_ids": ["x" * 10_000]}, headers=merchant
    )
    assert too_long.status_code == 422 and "item_ids" in too_long.text

    done = await stack.api.post(f"/v1/orders/{order_id}/signals/reordered", json={"skus": ["TEA-1"]}, headers=merchant)
    assert done.status_code == 202, done.text

    async def only_the_merchants_signal() -> None:
        # a signal that arrives while a workflow task runs is written to the history when that task completes
        history = await stack.env.client.get_workflow_handle(journey_id("e2e", order_id)).fetch_history()
        signaled = [e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]
        assert [e.workflow_execution_signaled_event_attributes.signal_name for e in signaled] == ["reordered"]

    await eventually(only_the_merchants_signal, "the merchant's reordered signal in the history")
