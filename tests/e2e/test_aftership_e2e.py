"""A UPS parcel tracked through AfterShip, end to end: the worker registers it at the sandbox's AfterShip, the
sandbox pushes signed AfterShip webhooks to our API, and the customer's emails name UPS, never AfterShip."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_journey_e2e import EMAIL, order_payload, wait_for_message, wait_for_stage

pytestmark = pytest.mark.devserver


async def checkpoint(stack: Stack, number: str, tag: str, subtag: str, message: str) -> None:
    """AfterShip records a checkpoint for the UPS parcel and pushes its `tracking_update` to our API."""
    async with httpx.AsyncClient(base_url=stack.sandbox.http_url) as sandbox:
        response = await sandbox.post(
            f"/_sandbox/aftership/trackings/ups/{number}/checkpoint",
            json={"tag": tag, "subtag": subtag, "message": message, "city": "Brooklyn", "state": "NY"},
        )
        response.raise_for_status()
        assert response.json()["webhook"]["delivered"], response.json()["webhook"]


async def test_a_ups_parcel_tracked_through_aftership_is_delivered_with_an_email_naming_ups(stack: Stack) -> None:
    order_id = f"E2E-AS-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    number = f"1Z{uuid.uuid4().hex[:16].upper()}"
    shipped = await stack.api.post(
        f"/v1/orders/{order_id}/shipments", json={"carrier": "UPS", "provider": "aftership", "tracking_number": number}
    )
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["tracking_workflow_id"] == f"shipment~e2e~aftership~{number}"
    await wait_for_message(stack, order_id, "shipped")  # after the child registered the parcel at AfterShip
    async with httpx.AsyncClient(base_url=stack.sandbox.http_url) as sandbox:
        registered = await sandbox.get(f"/_sandbox/aftership/trackings/ups/{number}")
    assert registered.status_code == 200 and registered.json()["slug"] == "ups"

    await checkpoint(stack, number, "InTransit", "InTransit_007", "Departed from Facility")
    await checkpoint(stack, number, "OutForDelivery", "OutForDelivery_001", "Out For Delivery Today")
    await checkpoint(stack, number, "Delivered", "Delivered_001", "DELIVERED - Front Door")
    await wait_for_message(stack, order_id, "delivered", timeout=60)

    state = await wait_for_stage(stack, order_id, "completed", timeout=90)
    [parcel] = state["parcels"]
    assert (parcel["carrier"], parcel["provider"], parcel["status"]) == ("ups", "aftership", "delivered")
    mine = [e for e in stack.sandbox.state.emails if EMAIL in e.rcpt_tos and order_id in (e.subject + (e.text or ""))]
    shipped_mail = next(e for e in mine if "has shipped" in (e.text or ""))
    delivered_mail = next(e for e in mine if "has been delivered" in e.subject)
    assert "shipped with UPS" in (shipped_mail.text or "")
    assert "delivered by UPS" in (delivered_mail.text or "") and "delivered by UPS" in (delivered_mail.html or "")
    assert not any("aftership" in ((e.text or "") + (e.html or "")).lower() for e in mine)
