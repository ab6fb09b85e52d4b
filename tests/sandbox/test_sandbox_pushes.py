"""Where the tracking-provider stand-ins push, and that they speak only to callers with the vendor's key."""

from __future__ import annotations

import httpx

from sandbox import SandboxState


def test_each_provider_pushes_to_its_own_endpoint_of_the_same_api() -> None:
    state = SandboxState(webhook_url="http://127.0.0.1:8000/v1/carriers/easypost/events")
    assert state.push_url("shippo") == "http://127.0.0.1:8000/v1/carriers/shippo/events"
    assert state.push_url("17track") == "http://127.0.0.1:8000/v1/carriers/17track/events"
    state.push_urls["shippo"] = "http://127.0.0.1:8000/v1/carriers/shippo/events?token=t"
    assert state.push_url("shippo").endswith("?token=t")


def test_a_sink_url_takes_every_providers_pushes() -> None:
    state = SandboxState(webhook_url="http://127.0.0.1:8025/_sandbox/easypost/webhook-sink")
    assert state.push_url("17track") == state.webhook_url


async def test_the_stand_ins_refuse_a_caller_without_the_vendors_key(sandbox, control: httpx.AsyncClient) -> None:
    shippo = await control.get("/shippo/tracks/usps/9205590164917312751089")
    seventeen = await control.post("/17track/track/v2.2/gettrackinfo", json=[{"number": "1Z1"}])

    assert shippo.status_code == 401 and shippo.json() == {"detail": "Authentication credentials were not provided."}
    assert seventeen.status_code == 401 and seventeen.json()["code"] == -18010002


async def test_a_scan_is_pushed_signed_as_each_vendor_signs(sandbox, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/shippo/tracks/usps/9205590164917312751089/scan", json={"status": "TRANSIT"})
    await control.post("/_sandbox/17track/tracks/1Z2617V10397725789/scan", json={"sub_status": "InfoReceived"})

    shippo, seventeen = (await control.get("/_sandbox/easypost/webhook-sink")).json()[-2:]
    assert shippo["headers"]["shippo-auth-signature"].startswith("t=")
    assert '"event": "track_updated"' in shippo["body"]
    assert len(seventeen["headers"]["sign"]) == 64 and '"event": "TRACKING_UPDATED"' in seventeen["body"]
