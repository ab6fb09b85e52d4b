"""Finding journeys by what they publish: stage, delayed and the kind of delay, merchant, a parcel's carrier
status, with pages and counts per stage, on the real dev server's visibility store."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import httpx
import pytest
from rich.console import Console

from aftercare import orders_cli
from aftercare.settings import Settings
from domain import Role, journey_id
from tests.e2e.conftest import Stack, assert_refused_to_strangers, merchant_headers, terminal
from tests.e2e.test_journey_e2e import order_payload, scan, wait_for_stage
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver


async def place(stack: Stack, tracking: str | None = None) -> str:
    order_id = f"FND-{uuid.uuid4().hex[:6]}"
    assert (await stack.api.post("/v1/orders", json=order_payload(order_id))).status_code == 201
    if tracking:
        body = {"carrier": "easypost", "tracking_number": tracking}
        assert (await stack.api.post(f"/v1/orders/{order_id}/shipments", json=body)).status_code == 201
    return order_id


async def found(stack: Stack, **params: Any) -> dict[str, Any]:
    response = await stack.api.get("/v1/orders", params={"merchant": "e2e"} | params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(page: dict[str, Any]) -> set[str]:
    return {o["order_id"] for o in page["orders"]}


async def test_orders_by_stage_delay_and_carrier_status_with_pages_and_counts(stack: Stack) -> None:
    waiting = await place(stack)
    moving = await place(stack, tracking=f"EZ{uuid.uuid4().hex[:10].upper()}")
    stuck_tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    stuck = await place(stack, tracking=stuck_tracking)
    await wait_for_stage(stack, moving, "in_transit")
    await wait_for_stage(stack, stuck, "in_transit")
    await scan(stack, stuck_tracking, "failure", "weather_delay", "Held: severe weather")

    async def published() -> None:
        awaiting = await found(stack, stage="awaiting_fulfillment")
        assert waiting in ids(awaiting) and not {moving, stuck} & ids(awaiting)
        in_transit = await found(stack, stage="in_transit")
        assert {moving, stuck} <= ids(in_transit) and waiting not in ids(in_transit)
        assert in_transit["counts"]["in_transit"] >= 2 and set(in_transit["counts"]) == {"in_transit"}
        everything = await found(stack)
        assert everything["counts"]["in_transit"] >= 2 and everything["counts"]["awaiting_fulfillment"] >= 1
        delayed = await found(stack, delayed="true")
        assert stuck in ids(delayed) and moving not in ids(delayed)
        [row] = [o for o in delayed["orders"] if o["order_id"] == stuck]
        assert row["delay_kinds"] == ["carrier_exception"] and row["order_value"] == 30.0
        assert row["temporal_ui"].endswith(
            f"/workflows/{journey_id('e2e', stuck)}/{row['temporal_ui'].rsplit('/', 1)[1]}"
        )
        by_kind = await found(stack, delay_kind="carrier_exception")
        assert stuck in ids(by_kind)
        exception = await found(stack, carrier_status="exception")
        assert ids(exception) == {stuck}
        assert "ShipmentTracking" in exception["parcel_query"]
        assert exception["counts"] == {"in_transit": 1}  # the journeys of those parcels, not every journey
        returned = await found(stack, carrier_status="returned")  # no parcel in it: no journey query
        assert returned["orders"] == [] and returned["query"] is None and returned["counts"] == {}

    await eventually(published, "the journeys' search attributes", timeout=30)

    # Pages: one order at a time, each once, until there is no next page.
    seen: list[str] = []
    token: str | None = None
    while True:
        page = await found(stack, stage="in_transit", page_size=1, **({"page_token": token} if token else {}))
        seen.extend(ids(page))
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == len(set(seen)) and {moving, stuck} <= set(seen)
    first = await found(stack, stage="in_transit", page_size=1)
    elsewhere = await stack.api.get(
        "/v1/orders", params={"stage": "awaiting_fulfillment", "page_token": first["next_page_token"]}
    )
    assert elsewhere.status_code == 422 and "for these filters" in elsewhere.json()["message"]


async def test_who_may_look_and_bad_filters(stack: Stack) -> None:
    other = merchant_headers(stack, "shop-b", "elsewhere")
    await assert_refused_to_strangers(stack, "/v1/orders", other, "/v1/orders?merchant=e2e")
    async with httpx.AsyncClient(base_url=str(stack.api.base_url)) as plain:
        own = await plain.get("/v1/orders", headers=other)
        assert own.status_code == 200 and own.json()["orders"] == []  # a merchant token sees its own only
        assert "AftercareMerchant = 'elsewhere'" in own.json()["query"]
    bad = await stack.api.get("/v1/orders", params={"stage": "lost_in_space"})
    assert bad.status_code == 422 and "stage" in bad.text
    for made_up in ("%%%", "bm90LWEtdG9rZW4="):  # not base64; base64 of something we never gave out
        token = await stack.api.get("/v1/orders", params={"page_token": made_up})
        assert token.status_code == 422 and token.json()["error"] == "invalid_page_token", token.text
    sneaky = await stack.api.get("/v1/orders", params={"customer": "x' OR WorkflowType = 'ShipmentTracking"})
    assert sneaky.status_code == 200 and sneaky.json()["orders"] == []


async def test_the_cli_lists_orders_with_counts(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    moving = await place(stack, tracking=tracking)
    await wait_for_stage(stack, moving, "in_transit")
    parser = terminal(stack, monkeypatch, stack.store.create_api_token("erin", Role.ENGINEER).token, orders_cli)

    def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = orders_cli.run(
            parser.parse_args(["orders", "list", *argv]), Settings(), console=Console(file=out, width=200)
        )
        return code, out.getvalue()

    async def listed() -> str:
        code, text = await asyncio.to_thread(cli, "--merchant", "e2e", "--stage", "in_transit", "--on-time")
        assert code == 0 and moving in text
        return text

    text = await eventually(listed, "the order in the CLI's list", timeout=30)
    assert "journeys per stage" in text and "in_transit" in text and "AftercareDelayed = false" in text
    code, text = await asyncio.to_thread(cli, "--merchant", "e2e", "--page-token", "bogus")
    assert code == 1 and "invalid_page_token" in text


async def test_a_parcel_is_findable_as_pending_before_its_first_scan(stack: Stack) -> None:
    """A child published its carrier status only at its first change: `--carrier-status pending` found nothing."""
    waiting = await place(stack, tracking=f"EZ{uuid.uuid4().hex[:10].upper()}")  # a label, no scan yet

    async def published() -> None:
        assert waiting in ids(await found(stack, carrier_status="pending"))

    await eventually(published, "the parcel's pending carrier status", timeout=30)
