"""A provider's delivery callback on the whole stack: SendGrid reports the confirmation bounced, and the journey's
later emails (the marketing review request among them) are skipped as suppressed instead of sent."""

from __future__ import annotations

import json
import uuid

import pytest

from connectors.messaging.sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.e2e.conftest import SENDGRID_KEY, Stack
from tests.e2e.test_journey_e2e import EMAIL, order_payload, scan, wait_for_message, wait_for_stage

pytestmark = pytest.mark.devserver


async def test_a_sendgrid_bounce_suppresses_the_next_marketing_email(stack: Stack) -> None:
    order_id = f"E2E-BNC-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    await wait_for_message(stack, order_id, "confirmation")
    [confirmation] = stack.store.list_messages("e2e", order_id)

    # SendGrid's signed Event Webhook: the confirmation bounced (our key came back in custom_args)
    event = {
        "email": EMAIL,
        "timestamp": 1795000000,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "type": "bounce",
        "bounce_classification": "invalid",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist",
        "status": "5.1.1",
        "sg_event_id": f"bounce-{order_id}",
        "sg_message_id": "W-yN7f3ZRyCTUs4c8K_Yvg.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "aftercare_key": confirmation.idempotency_key,
    }
    body = json.dumps([event]).encode()
    headers = {SIGNATURE_HEADER: sign(body, "1795000001", SENDGRID_KEY), TIMESTAMP_HEADER: "1795000001"}
    answer = await stack.api.post("/v1/providers/sendgrid/events", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    row = stack.store.get_message(confirmation.idempotency_key)
    assert row is not None and row.delivery_status == "bounced"

    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    shipment = {"carrier": "easypost", "tracking_number": tracking}
    assert (await stack.api.post(f"/v1/orders/{order_id}/shipments", json=shipment)).status_code == 201
    await wait_for_stage(stack, order_id, "in_transit")
    await scan(stack, tracking, "delivered", "arrived_at_destination", "Delivered")
    state = await wait_for_stage(stack, order_id, "completed", timeout=90)

    review = [m for m in state["messages"] if m["step"] == "review_request"]
    assert [(m["status"], m["skip_reason"]) for m in review] == [("skipped", "suppressed")]
    assert all(m["status"] == "skipped" for m in state["messages"] if m["step"] != "confirmation")
    received = [e for e in stack.sandbox.state.emails if EMAIL in e.rcpt_tos and order_id in (e.text or "")]
    assert len(received) == 1  # the confirmation, before the bounce; nothing after it

    timeline = await stack.api.get(f"/v1/orders/{order_id}/timeline")
    assert timeline.status_code == 200
    assert "confirmation by email: bounced" in [e["summary"] for e in timeline.json()["entries"]]
