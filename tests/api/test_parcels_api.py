"""Parcels through the API (issue 8): tracking numbers per merchant with no hint of another merchant's order,
carrier webhooks told to every merchant's parcel under its child's id (current or legacy), bodies stored once.

Temporal is a stand-in here that records signals; the journeys themselves are the scenario and e2e tests' job.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.services import Services
from domain import Order, PollResult, Role, Shipment, TrackingEvent, TrackingStatus
from storage import Store

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class FakeTemporal:
    """Answers signals for the workflow ids in `running`; NOT_FOUND for any other, as Temporal would."""

    running: set[str] = field(default_factory=set)
    signals: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> FakeHandle:
        return FakeHandle(self, workflow_id)


@dataclass
class FakeHandle:
    temporal: FakeTemporal
    id: str

    async def signal(self, signal: Any, arg: Any = None) -> None:
        name = signal if isinstance(signal, str) else signal.__name__
        if not self.id.startswith(("order-", "order~")) and self.id not in self.temporal.running:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        self.temporal.signals.append((self.id, name, arg))


class JsonCarrier:
    """A carrier whose webhook body is `{"events": [TrackingEvent...]}` (signature checks are the connectors')."""

    name = "ups"

    async def track(self, tracking_number: str) -> PollResult:
        return PollResult()

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[TrackingEvent]:
        return [TrackingEvent.model_validate(e) for e in json.loads(body)["events"]]


def order(merchant_id: str, order_id: str) -> Order:
    return Order.model_validate(
        {
            "merchant_id": merchant_id,
            "order_id": order_id,
            "placed_at": T0,
            "currency": "USD",
            "total": Decimal("10.00"),
            "customer": {"id": "c1", "email": "ada@example.com"},
            "shipping_address": {"country": "US"},
            "items": [{"id": "li-1", "sku": "S1", "name": "Mug", "quantity": 1, "unit_price": "10.00"}],
        }
    )


def push(*scans: TrackingEvent) -> bytes:
    return json.dumps({"events": [s.model_dump(mode="json") for s in scans]}).encode()


def scan(n: int, tracking_number: str = "1Z0001") -> TrackingEvent:
    return TrackingEvent(
        event_id=f"e{n}",
        carrier="ups",
        tracking_number=tracking_number,
        status=TrackingStatus.IN_TRANSIT,
        occurred_at=T0 + timedelta(minutes=n),
        description="Arrived at facility " + "x" * 150,
        location="Louisville, KY, US",
    )


@pytest.fixture
def store(store: Store) -> Store:
    """The suite's fresh store (tests/conftest.py), with this file's orders in it."""
    for merchant, order_id in (("acme", "A-1"), ("acme", "A-2"), ("bravo", "B-SECRET")):
        store.record_order(order(merchant, order_id), {})
    return store


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
async def api(store: Store, temporal: FakeTemporal) -> AsyncIterator[httpx.AsyncClient]:
    services = Services(store=store, temporal=temporal, policies={}, carriers={"ups": JsonCarrier()}, task_queue="t")  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def token(store: Store, merchant: str) -> dict[str, str]:
    issued = store.create_api_token(f"{merchant}-shop", Role.MERCHANT, merchant_id=merchant)
    return {"Authorization": f"Bearer {issued.token}"}


PARCEL = {"carrier": "ups", "tracking_number": "1Z0001"}


async def test_another_merchant_claiming_a_number_first_neither_blocks_nor_is_named(
    api: httpx.AsyncClient, store: Store
) -> None:
    acme, bravo = token(store, "acme"), token(store, "bravo")
    first = await api.post("/v1/orders/B-SECRET/shipments", json=PARCEL, headers=bravo)
    assert first.status_code == 201

    mine = await api.post("/v1/orders/A-1/shipments", json=PARCEL, headers=acme)
    assert mine.status_code == 201, mine.text
    assert mine.json()["tracking_workflow_id"] == "shipment~acme~ups~1Z0001"

    again = await api.post("/v1/orders/A-2/shipments", json=PARCEL, headers=acme)
    assert again.status_code == 409
    body = again.json()
    assert body["error"] == "shipment_conflict" and "A-1" in body["message"] and "tracking_number" in body["message"]
    assert "B-SECRET" not in again.text and "bravo" not in again.text


async def test_a_webhook_reaches_every_merchants_parcel_under_its_childs_id(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    store.record_shipment("acme", "A-1", Shipment(carrier="ups", tracking_number="1Z0001"))
    store.record_shipment("bravo", "B-SECRET", Shipment(carrier="ups", tracking_number="1Z0001"))
    # acme's child started before the `tenant-ids` patch (legacy id); bravo's after it
    temporal.running = {"shipment-ups-1Z0001", "shipment~bravo~ups~1Z0001"}

    response = await api.post("/v1/carriers/ups/events", content=push(scan(1)))
    assert response.status_code == 202 and response.json()["matched"] == ["1Z0001"]
    told = sorted((workflow_id, name, [e.event_id for e in events]) for workflow_id, name, events in temporal.signals)
    assert told == [
        ("shipment-ups-1Z0001", "tracking_update", ["e1"]),
        ("shipment~bravo~ups~1Z0001", "tracking_update", ["e1"]),
    ]


async def test_a_webhook_for_a_parcel_whose_tracking_has_not_started_is_kept_for_it(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    store.record_shipment("acme", "A-1", Shipment(carrier="ups", tracking_number="1Z0001"))
    response = await api.post("/v1/carriers/ups/events", content=push(scan(1)))
    assert response.status_code == 202 and temporal.signals == []
    assert [e.event_id for e in store.claim_parcel_events("ups", "1Z0001")] == ["e1"]


async def test_a_big_push_stores_its_body_once(api: httpx.AsyncClient, store: Store) -> None:
    """One signed push of 2,001 scans wrote its whole body with every row: 2,001 copies (899 MB for 449 KB)."""
    store.record_shipment("acme", "A-1", Shipment(carrier="ups", tracking_number="1Z0001"))
    body = push(*(scan(n) for n in range(2001)))
    for _ in range(2):  # and the carrier's retry writes nothing at all
        assert (await api.post("/v1/carriers/ups/events", content=body)).status_code == 202
    with store.engine.connect() as conn:
        bodies = conn.exec_driver_sql("SELECT count(*), sum(size) FROM carrier_payloads").one()
        rows = conn.exec_driver_sql("SELECT count(*) FROM tracking_events").scalar_one()
    assert tuple(bodies) == (1, len(body)) and rows == 2001


async def test_unknown_parcels_pushes_are_kept_once_and_bounded(api: httpx.AsyncClient, store: Store) -> None:
    for _ in range(3):  # the same push delivered three times
        response = await api.post("/v1/carriers/ups/events", content=push(scan(1, "1Z9999"), scan(2, "1Z9999")))
        assert response.status_code == 202 and response.json()["unmatched"] == ["1Z9999"]
    assert len(store.list_unmatched_events("ups", "1Z9999")) == 2
    big = push(*(scan(n, "1Z8888") for n in range(store.unmatched_limits.per_parcel + 50)))
    assert (await api.post("/v1/carriers/ups/events", content=big)).status_code == 202
    assert len(store.list_unmatched_events("ups", "1Z8888")) == store.unmatched_limits.per_parcel
