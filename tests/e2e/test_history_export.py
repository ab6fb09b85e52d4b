"""`aftercare history export`: an order's journey and parcel histories in one file that holds no customer data
in clear and replays against the current code, as a bug report or a new replay test would use it."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from aftercare import history_cli
from aftercare.histories import from_bundle, replay
from aftercare.settings import Settings
from domain import Role, journey_id
from tests.conftest import CONVERTER
from tests.e2e.conftest import Stack, assert_refused_to_strangers, merchant_headers, terminal
from tests.e2e.test_journey_e2e import EMAIL, order_payload, scan, wait_for_stage
from worker import build_replayer

pytestmark = pytest.mark.devserver


async def test_export_writes_every_run_encrypted_and_it_replays(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = f"HIS-{uuid.uuid4().hex[:6]}"
    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    body = {"carrier": "easypost", "tracking_number": tracking}
    assert (await stack.api.post(f"/v1/orders/{order_id}/shipments", json=body)).status_code == 201
    await wait_for_stage(stack, order_id, "in_transit")
    await scan(stack, tracking, "delivered", "arrived_at_destination", "Delivered, front door")
    await wait_for_stage(stack, order_id, "completed")

    parser = terminal(stack, monkeypatch, stack.store.create_api_token("erin", Role.ENGINEER).token, history_cli)
    target = tmp_path / "bug.json"
    args = parser.parse_args(["history", "export", order_id, "-o", str(target)])
    said = io.StringIO()
    code = await asyncio.to_thread(history_cli.run, args, Settings(), console=Console(file=said, width=200))
    assert code == 0 and f"wrote {target}" in said.getvalue()

    text = target.read_text()
    assert EMAIL not in text and "Grace" not in text  # payloads stay encrypted
    runs = from_bundle(text, source=str(target))
    assert [r.workflow_id for r in runs] == [journey_id("e2e", order_id), f"shipment~e2e~easypost~{tracking}"]
    results = await replay(runs, build_replayer(CONVERTER))
    assert results.replay_failures == {}

    to_stdout = parser.parse_args(["history", "export", order_id])
    out = io.StringIO()
    assert await asyncio.to_thread(history_cli.run, to_stdout, Settings(), out=out) == 0
    assert from_bundle(out.getvalue())[0].run_id == runs[0].run_id


async def test_export_refusals(stack: Stack) -> None:
    merchant = merchant_headers(stack, "shop", "e2e")
    await assert_refused_to_strangers(stack, "/v1/orders/X/history", merchant)
    unknown = await stack.api.get("/v1/orders/NOPE-404/history")
    assert unknown.status_code == 404 and "NOPE-404" in unknown.json()["message"]
