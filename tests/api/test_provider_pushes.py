"""Shippo's and 17TRACK's pushes through `POST /v1/carriers/{provider}/events`, exactly as each vendor sends them.

The real app with the real connectors (built by `build_carriers`, as the API builds them); Temporal is a
stand-in that records signals. A push that does not prove itself is refused and stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.services import Services
from connectors.carriers import build_carriers
from connectors.carriers.seventeentrack import sign as sign_17track
from connectors.carriers.shippo import sign as sign_shippo
from domain import Order, Shipment
from storage import Store

FIXTURES = Path(__file__).parent.parent / "connectors" / "fixtures"
SHIPPO_SECRET = "shippo-secret-for-tests"
SEVENTEEN_KEY = "17track-security-key-for-tests"
SHIPPO_NUMBER = "9205590164917312751089"  # in fixtures/shippo/webhook_track_updated.json
SEVENTEEN_NUMBER = "1Z2617V10397725789"  # in fixtures/17track/webhook_tracking_updated.json


@dataclass
class RecordingTemporal:
    """Every workflow exists and takes signals; keeps (workflow id, signal, argument)."""

    signals: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> Any:
        async def signal(sig: Any, arg: Any = None) -> None:
            self.signals.append((workflow_id, getattr(sig, "__name__", str(sig)), arg))

        return SimpleNamespace(signal=signal)


def push_body(vendor: str, name: str) -> bytes:
    return json.dumps(json.loads((FIXTURES / vendor / f"{name}.json").read_text())).encode()


@pytest.fixture
def store(store: Store) -> Store:
    """The suite's fresh store (tests/conftest.py), with Acme's order A-1 and its Shippo parcel in it."""
    order = Order.model_validate(
        {
            "merchant_id": "acme",
            "order_id": "A-1",
            "placed_at": datetime(2026, 11, 20, tzinfo=UTC),
            "currency": "USD",
            "total": Decimal("10.00"),
            "customer": {"id": "c1", "email": "ada@example.com"},
            "shipping_address": {"country": "US"},
            "items": [{"id": "li-1", "sku": "S1", "name": "Mug", "quantity": 1, "unit_price": "10.00"}],
        }
    )
    store.record_order(order, {})
    # tracked through Shippo (recorded the pre-provider way, where `carrier` names the provider: both ways give
    # `tracked_via == "shippo"`, which pushes are matched on)
    store.record_shipment("acme", "A-1", Shipment(carrier="shippo", tracking_number=SHIPPO_NUMBER))
    return store


@pytest.fixture
def temporal() -> RecordingTemporal:
    return RecordingTemporal()


@pytest.fixture
async def api(store: Store, temporal: RecordingTemporal) -> AsyncIterator[httpx.AsyncClient]:
    carriers = build_carriers(
        "http://127.0.0.1:9/easypost", "k", "s",
        shippo_base_url="http://127.0.0.1:9/shippo", shippo_api_key="k", shippo_webhook_secret=SHIPPO_SECRET,
        seventeentrack_base_url="http://127.0.0.1:9/17track", seventeentrack_api_key="k",
        seventeentrack_webhook_secret=SEVENTEEN_KEY,
    )  # fmt: skip
    services = Services(store=store, temporal=temporal, policies={}, carriers=carriers, task_queue="t")  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def stored(store: Store, provider: str, number: str) -> list[str]:
    return [e.event_id for e in store.claim_parcel_events(provider, number)]


async def test_a_signed_shippo_push_is_accepted_and_told_to_the_parcel(api, store, temporal) -> None:
    body = push_body("shippo", "webhook_track_updated")
    response = await api.post("/v1/carriers/shippo/events", content=body,
                              headers={"Shippo-Auth-Signature": sign_shippo(body, SHIPPO_SECRET)})  # fmt: skip

    assert response.status_code == 202, response.text
    assert response.json() == {"carrier": "shippo", "events": 5, "matched": [SHIPPO_NUMBER], "unmatched": []}
    (workflow_id, signal, events), *_ = temporal.signals
    assert workflow_id == f"shipment~acme~shippo~{SHIPPO_NUMBER}" and signal == "tracking_update"
    assert events[-1].status == "delivered"
    assert len(stored(store, "shippo", SHIPPO_NUMBER)) == 5


async def test_a_shippo_push_may_prove_itself_with_the_token_in_its_url(api) -> None:
    body = push_body("shippo", "webhook_track_updated")
    accepted = await api.post("/v1/carriers/shippo/events", params={"token": SHIPPO_SECRET}, content=body)
    refused = await api.post("/v1/carriers/shippo/events", params={"token": "guessed"}, content=body)

    assert accepted.status_code == 202 and accepted.json()["events"] == 5
    assert refused.status_code == 401 and "wrong ?token=" in refused.json()["message"]


async def test_a_signed_17track_push_is_accepted_and_kept_for_its_parcel(api, store) -> None:
    body = push_body("17track", "webhook_tracking_updated")
    response = await api.post("/v1/carriers/17track/events", content=body,
                              headers={"sign": sign_17track(body, SEVENTEEN_KEY)})  # fmt: skip

    assert response.status_code == 202, response.text
    assert response.json() == {"carrier": "17track", "events": 5, "matched": [], "unmatched": [SEVENTEEN_NUMBER]}
    assert len(stored(store, "17track", SEVENTEEN_NUMBER)) == 5  # claimed by the parcel's tracking when it starts


async def test_a_17track_stopped_push_is_accepted_with_no_scan(api) -> None:
    body = push_body("17track", "webhook_tracking_stopped")
    response = await api.post("/v1/carriers/17track/events", content=body,
                              headers={"sign": sign_17track(body, SEVENTEEN_KEY)})  # fmt: skip
    assert response.status_code == 202 and response.json()["events"] == 0


@pytest.mark.parametrize(
    ("provider", "vendor", "name", "headers"),
    [
        ("shippo", "shippo", "webhook_track_updated", {}),
        ("shippo", "shippo", "webhook_track_updated", {"Shippo-Auth-Signature": "t=1,v1=00"}),
        ("17track", "17track", "webhook_tracking_updated", {}),
        ("17track", "17track", "webhook_tracking_updated", {"sign": "0" * 64}),
    ],
)
async def test_a_push_that_does_not_prove_itself_is_401_and_stores_nothing(
    api, store, temporal, provider: str, vendor: str, name: str, headers: dict[str, str]
) -> None:
    response = await api.post(f"/v1/carriers/{provider}/events", content=push_body(vendor, name), headers=headers)

    assert response.status_code == 401 and response.json()["error"] == "bad_webhook"
    assert "signature" in response.json()["message"].lower()
    number = SHIPPO_NUMBER if provider == "shippo" else SEVENTEEN_NUMBER
    assert stored(store, provider, number) == [] and temporal.signals == []


async def test_a_truncated_push_is_400_naming_the_problem(api, store) -> None:
    body = push_body("17track", "webhook_tracking_updated")[:200]
    response = await api.post("/v1/carriers/17track/events", content=body,
                              headers={"sign": sign_17track(body, SEVENTEEN_KEY)})  # fmt: skip

    assert response.status_code == 400 and response.json()["message"].startswith("malformed JSON body")
    assert stored(store, "17track", SEVENTEEN_NUMBER) == []
