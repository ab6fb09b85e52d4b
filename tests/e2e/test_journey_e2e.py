"""One order through the whole embedded stack: HTTP API in, carrier webhooks from the sandbox carrier,
emails into a real SMTP sink and texts into the Twilio stand-in, on the real Temporal dev server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import journey_id
from tests.e2e.conftest import Stack
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver

EMAIL, PHONE = "grace@example.com", "+15555550142"


def order_payload(order_id: str, **customer: Any) -> dict[str, Any]:
    return {
        "merchant_id": "e2e",
        "order_id": order_id,
        "placed_at": datetime.now(UTC).isoformat(),
        "currency": "USD",
        "total": "30.00",
        "customer": {
            "id": "cust-e2e",
            "first_name": "Grace",
            "email": EMAIL,
            "phone": PHONE,
            "marketing_consent": True,
        }
        | customer,
        "shipping_address": {"country": "US", "city": "Arlington"},
        "items": [{"id": "li-1", "sku": "TEA-1", "name": "Oolong tea", "quantity": 1, "unit_price": "30.00"}],
    }


async def scan(stack: Stack, tracking: str, status: str, detail: str, message: str) -> None:
    """The sandbox carrier records a scan and sends its signed webhook to our API, as EasyPost would."""
    async with __import__("httpx").AsyncClient(base_url=stack.sandbox.http_url) as sandbox:
        response = await sandbox.post(
            f"/_sandbox/easypost/trackers/{tracking}/scan",
            json={"status": status, "status_detail": detail, "message": message},
        )
        response.raise_for_status()


async def wait_for_stage(stack: Stack, order_id: str, stage: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await stack.api.get(f"/v1/orders/{order_id}")
        if response.status_code == 200:
            state = response.json()
            if state["stage"] == stage:
                return state
        await asyncio.sleep(0.3)
    raise AssertionError(f"order {order_id} never reached {stage}; last state: {state}")


async def wait_for_message(stack: Stack, order_id: str, step: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await stack.api.get(f"/v1/orders/{order_id}")
        if response.status_code == 200 and any(
            m["step"] == step and m["status"] == "sent" for m in response.json()["messages"]
        ):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"order {order_id} never sent {step}")


async def test_order_journey_through_the_http_api(stack: Stack) -> None:
    order_id = f"E2E-{uuid.uuid4().hex[:6]}"
    first = await stack.api.post("/v1/orders", json=order_payload(order_id))
    assert first.status_code == 201, first.text
    assert first.json()["workflow_id"] == journey_id("e2e", order_id)
    again = await stack.api.post("/v1/orders", json=order_payload(order_id))
    assert again.status_code == 200 and again.json()["created"] is False

    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    shipped = await stack.api.post(
        f"/v1/orders/{order_id}/shipments", json={"carrier": "easypost", "tracking_number": tracking}
    )
    assert shipped.status_code == 201, shipped.text
    await wait_for_stage(stack, order_id, "in_transit")
    # The tracking child asks the carrier once at start; scans it finds there already final mean "delivered
    # before we tracked it", which sends no "shipped". Real scans come days later: let the child start first.
    await wait_for_message(stack, order_id, "shipped")
    await scan(stack, tracking, "in_transit", "arrived_at_facility", "Arrived at facility")
    await scan(stack, tracking, "out_for_delivery", "out_for_delivery", "Out for delivery")
    await scan(stack, tracking, "delivered", "arrived_at_destination", "Delivered")
    state = await wait_for_stage(stack, order_id, "completed", timeout=90)

    sent = Counter((m["step"], m["channel"], m["recipient"]) for m in state["messages"] if m["status"] == "sent")
    assert sent == Counter(
        {
            ("confirmation", "email", EMAIL): 1,
            ("shipped", "email", EMAIL): 1,
            ("status_update", "sms", PHONE): 1,
            ("delivered", "email", EMAIL): 1,
            ("follow_up", "email", EMAIL): 1,
            ("review_request", "email", EMAIL): 1,
            ("review_reminder", "email", EMAIL): 1,
        }
    )
    # What the customer actually received: six emails in the SMTP sink, one text at the Twilio stand-in.
    received = [e for e in stack.sandbox.state.emails if EMAIL in e.rcpt_tos]
    assert len(received) == 6
    assert len({e.message_id for e in received}) == 6
    assert all(e.message_id.endswith("@aftercare>") for e in received)
    texts = [t for t in stack.sandbox.state.texts if t["to"] == PHONE]
    assert len(texts) == 1 and "out for delivery" in texts[0]["body"].lower()
    # The outbox agrees, row for row.
    rows = stack.store.list_messages("e2e", order_id)
    assert sorted(r.status for r in rows) == ["sent"] * 7
    assert [p["status"] for p in state["parcels"]] == ["delivered"]
    # Findable in Temporal's visibility by merchant, customer, stage, on time and value.
    described = await stack.env.client.get_workflow_handle(journey_id("e2e", order_id)).describe()
    attrs = {k.name: v for k, v in described.typed_search_attributes}
    assert attrs["AftercareMerchant"] == "e2e" and attrs["AftercareCustomer"] == "cust-e2e"
    assert attrs["AftercareStage"] == "completed" and attrs["AftercareDelayed"] is False
    assert attrs["AftercareOrderValue"] == 30.0 and "AftercareDelayKinds" not in attrs


async def test_bad_input_is_refused_and_changes_nothing(stack: Stack) -> None:
    malformed = await stack.api.post("/v1/orders", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and "malformed JSON" in malformed.json()["message"]

    bad = order_payload("E2E-BAD", email="not-an-email")
    bad["items"][0]["quantity"] = 0
    refused = await stack.api.post("/v1/orders", json=bad)
    assert refused.status_code == 422
    paths = {p["path"] for p in refused.json()["problems"]}
    assert paths == {"customer.email", "items[0].quantity"}
    assert stack.store.get_order("e2e", "E2E-BAD") is None

    unknown_merchant = await stack.api.post("/v1/orders", json=order_payload("X1") | {"merchant_id": "nobody"})
    assert unknown_merchant.status_code == 422 and "known merchants: e2e" in unknown_merchant.json()["message"]

    missing = await stack.api.get("/v1/orders/NOPE-404")
    assert missing.status_code == 404 and "NOPE-404" in missing.json()["message"]
    no_order_shipment = await stack.api.post(
        "/v1/orders/NOPE-404/shipments", json={"carrier": "easypost", "tracking_number": "EZ404404"}
    )
    assert no_order_shipment.status_code == 404

    forged = await stack.api.post(
        "/v1/carriers/easypost/events",
        content=b'{"object": "Event", "description": "tracker.updated", "result": {}}',
        headers={"content-type": "application/json", "x-hmac-signature": "hmac-sha256-hex=deadbeef"},
    )
    assert forged.status_code == 401 and "signature" in forged.json()["message"].lower()
    unknown_carrier = await stack.api.post("/v1/carriers/pigeon/events", content=b"{}")
    assert unknown_carrier.status_code == 404 and "easypost" in unknown_carrier.json()["message"]


async def test_unknown_tracking_numbers_are_kept_and_answered_202(stack: Stack) -> None:
    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    await scan(stack, tracking, "in_transit", "arrived_at_facility", "Arrived at facility")
    deliveries = [d for d in stack.sandbox.state.deliveries if tracking in str(d.to_json())]
    assert deliveries and deliveries[-1].to_json()["attempts"][-1]["status_code"] == 202
    kept = stack.store.list_unmatched_events("easypost", tracking)
    assert len(kept) == 1


async def test_a_webhook_before_the_shipment_reaches_the_parcel_when_its_tracking_starts(stack: Stack) -> None:
    """The carrier pushed a scan before anyone registered the number. Its own answer at tracking start has
    nothing (the sandbox forgets the tracker): the parcel still starts from the pushed scan, not `pending`,
    so no false "pickup late" can follow."""
    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    await scan(stack, tracking, "in_transit", "arrived_at_facility", "Arrived at facility")
    async with __import__("httpx").AsyncClient(base_url=stack.sandbox.http_url) as sandbox:
        (await sandbox.delete(f"/_sandbox/easypost/trackers/{tracking}")).raise_for_status()
    assert len(stack.store.list_unmatched_events("easypost", tracking)) == 1

    order_id = f"E2E-EARLY-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    body = {"carrier": "easypost", "tracking_number": tracking}
    assert (await stack.api.post(f"/v1/orders/{order_id}/shipments", json=body)).status_code == 201

    async def moving() -> dict[str, Any]:
        state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
        assert [p["status"] for p in state["parcels"]] == ["in_transit"], state["parcels"]
        return dict(state)

    state = await eventually(moving, "the parcel to take the scan pushed before it was registered", timeout=30)
    assert state["delays"] == [] and not [m for m in state["messages"] if m["step"] == "delay_alert"]
    assert state["parcels"][0]["last_description"] == "Arrived at facility"
    assert stack.store.list_unmatched_events("easypost", tracking) == []  # claimed by the parcel


async def test_a_parcel_delivered_before_tracking_started_moves_the_order_on_at_once(stack: Stack) -> None:
    """EasyPost's test code EZ4000000004 is at the door already: no waiting for the next poll (5 minutes in
    this policy), no "shipped" news for a parcel that arrived, the delivered message instead."""
    order_id = f"E2E-ATDOOR-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    body = {"carrier": "easypost", "tracking_number": "EZ4000000004"}
    assert (await stack.api.post(f"/v1/orders/{order_id}/shipments", json=body)).status_code == 201

    async def moved_on() -> dict[str, Any]:
        state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
        assert state["stage"] in ("delivered", "post_delivery", "completed"), state["stage"]
        return dict(state)

    state = await eventually(moved_on, "the order to move on from a parcel delivered at start", timeout=40)
    assert [p["status"] for p in state["parcels"]] == ["delivered"]
    await wait_for_message(stack, order_id, "delivered")
    state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
    assert not [m for m in state["messages"] if m["step"] == "shipped"]


async def test_worker_killed_mid_journey_loses_nothing_and_sends_nothing_twice(stack: Stack) -> None:
    order_id = f"E2E-KILL-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    await stack.api.post(f"/v1/orders/{order_id}/shipments", json={"carrier": "easypost", "tracking_number": tracking})
    await wait_for_message(stack, order_id, "shipped")

    # A crash between two steps (a crash inside a send is the outbox's job, tested with the activity;
    # here it would only add the 60 s start-to-close wait before Temporal retries the send).
    stack.worker.kill()  # webhooks keep arriving while no worker runs
    await scan(stack, tracking, "out_for_delivery", "out_for_delivery", "Out for delivery")
    await scan(stack, tracking, "delivered", "arrived_at_destination", "Delivered")
    await asyncio.sleep(2)
    stack.worker.start()
    await wait_for_message(stack, order_id, "delivered", timeout=60)
    stack.worker.kill()  # and again, while the follow-up timer runs
    await asyncio.sleep(4)
    stack.worker.start()
    state = await wait_for_stage(stack, order_id, "completed", timeout=90)

    steps = Counter(m["step"] for m in state["messages"] if m["status"] == "sent")
    assert steps == Counter(
        {
            "confirmation": 1,
            "shipped": 1,
            "status_update": 1,
            "delivered": 1,
            "follow_up": 1,
            "review_request": 1,
            "review_reminder": 1,
        }
    )
    received = Counter(e.subject for e in stack.sandbox.state.emails if EMAIL in e.rcpt_tos)
    assert sum(received.values()) == 6 and all(n == 1 for n in received.values()), received
    assert len([t for t in stack.sandbox.state.texts if t["to"] == PHONE]) == 1
    assert stack.worker.runs == 3


async def test_a_new_order_of_the_same_sku_tells_the_earlier_journey(stack: Stack) -> None:
    first_id, second_id = f"E2E-R1-{uuid.uuid4().hex[:6]}", f"E2E-R2-{uuid.uuid4().hex[:6]}"
    customer = {"id": f"cust-{uuid.uuid4().hex[:6]}"}
    assert (await stack.api.post("/v1/orders", json=order_payload(first_id, **customer))).status_code == 201
    await wait_for_stage(stack, first_id, "awaiting_fulfillment")
    assert (await stack.api.post("/v1/orders", json=order_payload(second_id, **customer))).status_code == 201

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        first = (await stack.api.get(f"/v1/orders/{first_id}")).json()
        if first["reordered_skus"]:
            break
        await asyncio.sleep(0.2)
    assert first["reordered_skus"] == ["TEA-1"]
    second = (await stack.api.get(f"/v1/orders/{second_id}")).json()
    assert second["reordered_skus"] == []
