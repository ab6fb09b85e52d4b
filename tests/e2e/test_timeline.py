"""The timeline an engineer reads: a split-shipment order with a carrier exception and a refund, told from its
histories (journey and both parcels) through `GET /v1/orders/{id}/timeline` and `aftercare inspect`."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import httpx
import pytest
from rich.console import Console

from aftercare import history_cli
from aftercare.settings import Settings
from domain import Role, journey_id
from tests.e2e.conftest import WEB_UI, Stack, terminal
from tests.e2e.test_journey_e2e import EMAIL, scan, wait_for_stage
from tests.e2e.test_support_api import bearer, paid_order
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver


def summaries(timeline: dict[str, Any], kind: str) -> list[str]:
    return [e["summary"] for e in timeline["entries"] if e["kind"] == kind]


async def test_timeline_of_a_delayed_split_shipment_with_a_refund(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = await paid_order(stack, total="30.00")
    first, second = (f"EZ{uuid.uuid4().hex[:10].upper()}" for _ in range(2))
    shop = bearer(stack, "shop", Role.MERCHANT, "e2e")
    for tracking, headers in ((first, {}), (second, shop)):  # the admin ships one parcel, the shop the other
        body = {"carrier": "easypost", "tracking_number": tracking}
        response = await stack.api.post(f"/v1/orders/{order_id}/shipments", json=body, headers=headers)
        assert response.status_code == 201
    await wait_for_stage(stack, order_id, "in_transit")

    async def first_poll_done() -> None:  # else the scan may reach the parcel by its first poll, not the webhook
        history = await stack.env.client.get_workflow_handle(f"shipment~e2e~easypost~{first}").fetch_history()
        assert any(e.HasField("activity_task_completed_event_attributes") for e in history.events)

    await eventually(first_poll_done, "the first parcel's first look at the carrier")
    await scan(stack, first, "failure", "weather_delay", "Held: severe weather")

    async def delayed() -> None:
        state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
        assert [d["kind"] for d in state["delays"]] == ["carrier_exception"]

    await eventually(delayed, "the carrier exception to reach the journey")
    refund = await stack.api.post(
        f"/v1/orders/{order_id}/refunds",
        json={"reason": "late", "amount": "5.00", "note": "sorry for the weather"},
        headers=bearer(stack, "sam", Role.SUPPORT) | {"Idempotency-Key": "tl-1"},
    )
    assert refund.status_code == 200, refund.text
    for tracking in (first, second):
        await scan(stack, tracking, "delivered", "arrived_at_destination", "Delivered")

    engineer = bearer(stack, "erin", Role.ENGINEER)

    async def told() -> dict[str, Any]:
        response = await stack.api.get(f"/v1/orders/{order_id}/timeline", headers=engineer)
        assert response.status_code == 200, response.text
        timeline = dict(response.json())
        assert len([s for s in summaries(timeline, "parcel") if "finished: delivered" in s]) == 2
        return timeline

    timeline = await eventually(told, "both parcels delivered on the timeline", timeout=30)
    journey = journey_id("e2e", order_id)
    assert timeline["workflow_id"] == journey and timeline["runs"] == 3  # the journey and two parcels
    assert f"confirmation sent by email to {EMAIL}" in summaries(timeline, "message")
    assert {f"tracking child shipment~e2e~easypost~{t} started" for t in (first, second)} <= set(
        summaries(timeline, "parcel")
    )
    [exception] = [s for s in summaries(timeline, "tracking") if "exception" in s]
    assert exception.startswith(f"{first}: exception (weather)") and "Held: severe weather" in exception
    assert summaries(timeline, "delay") == [f"delay detected: carrier_exception on {first} (level 1)"]
    assert [e["by"] for e in timeline["entries"] if e["kind"] == "delay"] == [f"tracking child of {first}"]
    assert any(s.startswith("delay_alert sent by email") for s in summaries(timeline, "message"))
    [asked] = [e for e in timeline["entries"] if e["kind"] == "update" and e["summary"].startswith("refund asked")]
    assert asked["by"] == "sam (support)" and "refunded 5.00 USD (late)" in asked["summary"]
    assert asked["detail"]["request"]["note"] == "sorry for the weather"
    assert any(s.startswith("refund of 5.00 USD issued by stripe (re_") for s in summaries(timeline, "update"))
    assert "stage: in_transit" in summaries(timeline, "stage")
    # Who sent each signal: the token behind the API request, or the webhook that called; not the API process.
    senders = {e["summary"]: e["by"] for e in timeline["entries"] if e["kind"] == "signal"}
    assert senders[f"shipment created: easypost {first}"] == "e2e-admin (admin)"
    assert senders[f"shipment created: easypost {second}"] == "shop (merchant)"
    [started] = [e for e in timeline["entries"] if e["kind"] == "journey" and e["workflow_id"] == journey]
    assert started["by"] == "e2e-admin (admin)"
    [exception_entry] = [e for e in timeline["entries"] if e["kind"] == "tracking" and "exception" in e["summary"]]
    assert exception_entry["by"] == "carrier webhook easypost"
    assert any("next poll or delay check" in s for s in summaries(timeline, "timer"))
    # In time order, each event linked to the Web UI.
    times = [e["at"] for e in timeline["entries"]]
    assert times == sorted(times)
    for entry in timeline["entries"]:
        if entry["event_id"] is not None:
            assert entry["link"].startswith(f"{WEB_UI}/namespaces/default/workflows/{entry['workflow_id']}/")
            assert entry["link"].endswith(f"/history/events/{entry['event_id']}")

    # The same, in a terminal.
    parser = terminal(stack, monkeypatch, engineer["Authorization"].removeprefix("Bearer "), history_cli)
    out = io.StringIO()
    args = parser.parse_args(["inspect", order_id, "--kind", "delay", "--kind", "update"])
    code = await asyncio.to_thread(history_cli.inspect, args, Settings(), console=Console(file=out, width=250))
    text = out.getvalue()
    assert code == 0 and "carrier_exception" in text and "sam (support)" in text
    assert "confirmation sent" not in text  # only the kinds asked for

    async with httpx.AsyncClient(base_url=str(stack.api.base_url)) as plain:
        assert (await plain.get(f"/v1/orders/{order_id}/timeline", headers=shop)).status_code == 403
