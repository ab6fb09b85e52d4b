"""The sandbox keeps its outbox (and carrier trackers, opt-outs, webhook deliveries) under AFTERCARE_HOME, so
a restart of the stack still shows what the journeys sent before it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sandbox.__main__ import parse_args
from sandbox.runner import run_sandbox
from tests.sandbox.test_sandbox_outbox import SID, send_email, send_text


async def test_a_restart_keeps_the_outbox_trackers_and_opt_outs(tmp_path: Path) -> None:
    state_dir = tmp_path / "sandbox"
    async with run_sandbox(http_port=0, smtp_port=0, webhook_url="http://127.0.0.1:9/none", state_dir=state_dir) as box:
        send_email(box, "Order confirmed", html="<p>Thanks!</p>")
        await send_text(box, "+14155550100", "Out for delivery today")
        async with httpx.AsyncClient(base_url=box.http_url) as client:
            opted = await client.post("/_sandbox/twilio/opt-out", json={"number": "+14155550199"})
            assert opted.status_code == 200, opted.text
            scan = await client.post(
                "/_sandbox/easypost/trackers/EZ1000000001/scan",
                json={"status": "in_transit", "status_detail": "departed_facility", "message": "Departed"},
            )
            assert scan.status_code == 200, scan.text

    async with run_sandbox(http_port=0, smtp_port=0, webhook_url="http://127.0.0.1:9/none", state_dir=state_dir) as box:
        async with httpx.AsyncClient(base_url=box.http_url) as client:
            outbox = (await client.get("/outbox.json")).json()
            page = (await client.get("/outbox")).text
            tracker = await client.get(
                "/easypost/v2/trackers", params={"tracking_code": "EZ1000000001"}, auth=("sandbox-key", "")
            )
            refused = await client.post(
                f"/twilio/2010-04-01/Accounts/{SID}/Messages.json",
                data={"To": "+14155550199", "From": "+15005550006", "Body": "still opted out?"},
                auth=(SID, "t"),
            )
        send_email(box, "Your parcel shipped")  # new mail numbers on from the kept ones
        assert [e.id for e in box.state.emails] == [1, 2]

    [email] = outbox["emails"]
    assert email["subject"] == "Order confirmed" and email["html"].strip() == "<p>Thanks!</p>"
    assert [t["body"] for t in outbox["texts"]] == ["Out for delivery today"]
    assert [w["tracking_code"] for w in outbox["webhooks"]] == ["EZ1000000001"]
    assert "Order confirmed" in page and "Out for delivery today" in page
    [kept] = tracker.json()["trackers"]
    assert kept["status"] == "in_transit"
    assert refused.status_code >= 400  # the opt-out survived too


async def test_without_a_state_dir_nothing_is_kept(tmp_path: Path) -> None:
    async with run_sandbox(http_port=0, smtp_port=0) as box:
        send_email(box, "Forgotten")
    async with run_sandbox(http_port=0, smtp_port=0) as box:
        assert box.state.emails == []


def test_python_m_sandbox_keeps_state_under_aftercare_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    assert parse_args([]).state_dir == tmp_path / "sandbox"
