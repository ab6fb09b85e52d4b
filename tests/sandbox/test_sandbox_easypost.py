"""The EasyPost stand-in speaks EasyPost: Tracker JSON, auth, signed webhooks, retries, scripts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import RunningSandbox


@pytest.fixture
async def easypost(sandbox: RunningSandbox, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.easypost_base_url, auth=(api_key, ""), timeout=5) as client:
        yield client


async def wait_for(predicate, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_creating_a_tracker_twice_returns_the_same_tracker(easypost, control):
    first = await easypost.post("/v2/trackers", json={"tracker": {"tracking_code": "9400111111", "carrier": "USPS"}})
    again = await easypost.post("/v2/trackers", data={"tracker[tracking_code]": "9400111111"})

    assert first.status_code == 201 and again.status_code == 200
    tracker = first.json()
    assert again.json()["id"] == tracker["id"] and tracker["id"].startswith("trk_")
    assert tracker["object"] == "Tracker" and tracker["tracking_code"] == "9400111111"
    assert tracker["status"] == "unknown" and tracker["tracking_details"] == []
    assert (await easypost.get(f"/v2/trackers/{tracker['id']}")).json() == tracker
    listed = (await easypost.get("/v2/trackers", params={"tracking_codes[]": "9400111111"})).json()
    assert [t["id"] for t in listed["trackers"]] == [tracker["id"]] and listed["has_more"] is False


async def test_api_key_and_tracking_code_are_checked(sandbox, easypost, control):
    async with httpx.AsyncClient(base_url=sandbox.easypost_base_url) as client:
        anonymous = await client.post("/v2/trackers", json={})
        wrong = await client.get("/v2/trackers", auth=("nope", ""))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "APIKEY.REQUIRED"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "APIKEY.INACTIVE"

    bad = await easypost.post("/v2/trackers", json={"tracker": {"tracking_code": "x y"}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "TRACKER.TRACKING_CODE.INVALID"
    missing = await easypost.get("/v2/trackers/trk_missing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


async def test_easypost_test_codes_come_with_history(easypost, control):
    tracker = (await easypost.post("/v2/trackers", json={"tracker": {"tracking_code": "EZ4000000004"}})).json()
    assert tracker["status"] == "delivered"
    assert [d["status"] for d in tracker["tracking_details"]] == [
        "pre_transit", "in_transit", "out_for_delivery", "delivered",
    ]  # fmt: skip


async def test_a_scan_sends_a_signed_tracker_updated_event(sandbox, control, webhook_secret):
    answer = (
        await control.post(
            "/_sandbox/easypost/trackers/1Z12345E0205271688/scan",
            json={"status": "in_transit", "status_detail": "arrived_at_facility", "message": "Arrived at Facility",
                  "city": "Louisville", "state": "KY", "est_delivery_date": "2026-12-01T00:00:00Z"},
        )
    ).json()  # fmt: skip
    assert answer["delivery"]["delivered"] is True

    [hook] = (await control.get("/_sandbox/easypost/webhook-sink")).json()
    body = hook["body"].encode()
    expected = hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert hook["headers"]["x-hmac-signature"] == f"hmac-sha256-hex={expected}"
    event = json.loads(body)
    assert event["object"] == "Event" and event["description"] == "tracker.updated"
    assert event["previous_attributes"] == {"status": "unknown"}
    tracker = event["result"]
    assert tracker["status"] == "in_transit" and tracker["est_delivery_date"] == "2026-12-01T00:00:00Z"
    [detail] = tracker["tracking_details"]
    assert detail["message"] == "Arrived at Facility" and detail["status_detail"] == "arrived_at_facility"
    assert detail["tracking_location"]["city"] == "Louisville"


async def test_a_scan_without_webhook_only_changes_what_polling_sees(easypost, control):
    await control.post("/_sandbox/easypost/trackers/POLLONLY1/scan",
                       json={"status": "out_for_delivery", "deliver_webhook": False})  # fmt: skip

    assert (await control.get("/_sandbox/easypost/webhook-sink")).json() == []
    listed = (await easypost.get("/v2/trackers", params={"tracking_code": "POLLONLY1"})).json()["trackers"]
    assert listed[0]["status"] == "out_for_delivery"


async def test_failed_webhooks_are_retried_and_every_attempt_is_recorded(sandbox, control):
    await control.post("/_sandbox/easypost/webhook-sink/fail-next", json={"count": 2})

    answer = (await control.post("/_sandbox/easypost/trackers/RETRY0001/scan", json={"status": "in_transit"})).json()
    assert answer["delivery"]["delivered"] is False and answer["delivery"]["attempts"][0]["status_code"] == 503

    await wait_for(lambda: sandbox.state.deliveries[-1].delivered)
    delivery = (await control.get("/_sandbox/easypost/webhooks")).json()[-1]
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 200]
    assert len((await control.get("/_sandbox/easypost/webhook-sink")).json()) == 3


async def test_a_webhook_nobody_takes_is_given_up_after_the_retries(sandbox, control):
    sandbox.state.webhook_url, url = "http://127.0.0.1:9/nobody-listens", sandbox.state.webhook_url
    try:
        await control.post("/_sandbox/easypost/trackers/GIVEUP001/scan", json={"status": "in_transit"})
        await wait_for(lambda: sandbox.state.deliveries[-1].gave_up)
    finally:
        sandbox.state.webhook_url = url
    delivery = sandbox.state.deliveries[-1]
    assert len(delivery.attempts) == 1 + len(sandbox.state.webhook_retry_delays)
    assert all(a.status_code is None and a.error for a in delivery.attempts)


async def test_a_script_plays_its_steps_in_order_in_the_background(sandbox, control):
    steps = [
        {"after_seconds": 0, "status": "pre_transit"},
        {"after_seconds": 0.05, "status": "in_transit", "status_detail": "departed_facility"},
        {"after_seconds": 0.05, "status": "delivered", "message": "Delivered to mailbox"},
    ]
    started = await control.post("/_sandbox/easypost/trackers/SCRIPT001/script", json={"steps": steps})
    assert started.status_code == 202 and started.json()["steps"] == 3

    await wait_for(lambda: all(s["done"] for s in sandbox.state.scripts.values()))
    hooks = (await control.get("/_sandbox/easypost/webhook-sink")).json()
    statuses = [json.loads(h["body"])["result"]["status"] for h in hooks]
    assert statuses == ["pre_transit", "in_transit", "delivered"]
    tracker = (await control.get("/_sandbox/easypost/trackers/SCRIPT001")).json()
    assert tracker["tracking_details"][-1]["message"] == "Delivered to mailbox"


async def test_a_scan_must_use_easypost_words(control):
    answer = await control.post("/_sandbox/easypost/trackers/WORDS0001/scan", json={"status": "attempt_failed"})
    assert answer.status_code == 422
    assert "not an EasyPost status" in answer.json()["error"]["message"]


CUSTOMER = {"name": "Ada Lovelace", "street1": "12 Analytical Way", "city": "Oakland", "state": "CA",
            "zip": "94607", "country": "US"}  # fmt: skip
MERCHANT = {"name": "Acme Returns", "street1": "1 Dock Street", "city": "Portland", "state": "OR",
            "zip": "97201", "country": "US"}  # fmt: skip


def return_shipment(**fields: object) -> dict:
    shipment = {"to_address": CUSTOMER, "from_address": MERCHANT, "parcel": {"weight": 16}, "is_return": True,
                "carrier": "USPS", "service": "GroundAdvantage", "reference": "rma-1"}  # fmt: skip
    shipment.update(fields)
    return {"shipment": shipment}


async def test_a_return_shipment_is_bought_in_one_call_with_swapped_addresses(sandbox, easypost, control):
    resp = await easypost.post("/v2/shipments", json=return_shipment())

    assert resp.status_code == 201, resp.text
    shipment = resp.json()
    assert shipment["object"] == "Shipment" and shipment["id"].startswith("shp_")
    assert shipment["from_address"]["name"] == "Ada Lovelace" and shipment["to_address"]["name"] == "Acme Returns"
    assert shipment["selected_rate"]["service"] == "GroundAdvantage"
    assert shipment["tracking_code"].startswith("9434") and len(shipment["tracking_code"]) == 22
    assert shipment["postage_label"]["label_url"] == f"{sandbox.http_url}/easypost/labels/{shipment['id']}.png"
    assert shipment["tracker"]["tracking_code"] == shipment["tracking_code"]
    assert (await easypost.get(f"/v2/shipments/{shipment['id']}")).json() == shipment
    assert (await easypost.get("/v2/shipments/rma-1")).json()["id"] == shipment["id"]  # a reference stands for an id
    label = await easypost.get(f"/labels/{shipment['id']}.png")
    assert label.status_code == 200 and label.content.startswith(b"\x89PNG")


async def test_like_easypost_a_repeated_reference_is_a_second_shipment(sandbox, easypost, control):
    first = (await easypost.post("/v2/shipments", json=return_shipment())).json()
    second = (await easypost.post("/v2/shipments", json=return_shipment())).json()

    assert first["id"] != second["id"] and first["tracking_code"] != second["tracking_code"]
    assert (await easypost.get("/v2/shipments/rma-1")).json()["id"] == second["id"]


async def test_a_shipment_without_a_service_is_not_bought(easypost, control):
    shipment = (await easypost.post("/v2/shipments", json=return_shipment(service=None))).json()

    assert shipment["postage_label"] is None and shipment["tracking_code"] is None
    assert (await easypost.get(f"/labels/{shipment['id']}.png")).status_code == 404


async def test_a_shipment_names_every_missing_field(sandbox, easypost, control):
    no_street = {k: v for k, v in CUSTOMER.items() if k != "street1"}
    no_country = {k: v for k, v in MERCHANT.items() if k != "country"}

    resp = await easypost.post(
        "/v2/shipments", json=return_shipment(to_address=no_street, from_address=no_country, parcel={})
    )

    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "SHIPMENT.INVALID_PARAMS"
    assert [e["field"] for e in error["errors"]] == ["to_address.street1", "from_address.country", "parcel.weight"]
    assert sandbox.state.shipments == {}
    missing = await easypost.get("/v2/shipments/shp_nothere")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
