"""AfterShip pushes through `POST /v1/carriers/aftership/events`, in AfterShip's own format: the parcel found by
tracking number and carrier, a merchant's own webhook secret (`?merchant_id=`), and refusals that store nothing.

Temporal is a stand-in that records signals (the journeys are the e2e tests' job).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.services import Services
from connectors.carriers.aftership import AfterShipCarrier, sign
from domain import Shipment, TrackingStatus
from policies.loader import BUNDLED_DIR, load_policy_dir
from policies.schema import Tracking
from storage import Store
from tests.api.test_parcels_api import FakeTemporal, order

FIXTURES = Path(__file__).parents[1] / "connectors" / "fixtures" / "aftership"
OURS = "aftership-process-secret"
ACME_OWN = "acme-own-aftership-secret"
UPS = "1Z999AA10123456784"  # the number in webhook_delivered.json, a UPS parcel
CHILD = f"shipment~acme~aftership~{UPS}"


@pytest.fixture
def store(store: Store) -> Store:
    """The suite's fresh store (tests/conftest.py), with this file's orders in it."""
    for merchant, order_id in (("acme", "A-1"), ("bravo", "B-1")):
        store.record_order(order(merchant, order_id), {})
    return store


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal(running={CHILD, f"shipment~bravo~aftership~{UPS}"})


@pytest.fixture
async def api(
    store: Store, temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("ACME_AFTERSHIP_SECRET", ACME_OWN)
    bundled = load_policy_dir(BUNDLED_DIR)
    acme = bundled["acme"]
    own = Tracking(provider="aftership", webhook_secret_env="ACME_AFTERSHIP_SECRET")
    policies = {"acme": acme.model_copy(update={"policy": acme.policy.model_copy(update={"tracking": own})})}
    carriers = {"aftership": AfterShipCarrier("http://127.0.0.1:9/aftership", "key", OURS)}
    services = Services(store=store, temporal=temporal, policies=policies, carriers=carriers, task_queue="t")  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://t") as c:
        yield c


def body(name: str = "webhook_delivered") -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def signed(content: bytes, secret: str = OURS) -> dict[str, str]:
    return {"aftership-hmac-sha256": sign(content, secret), "content-type": "application/json"}


def ups_parcel(store: Store, merchant: str, order_id: str, carrier: str = "ups") -> None:
    shipment = Shipment(carrier=carrier, provider="aftership", tracking_number=UPS)
    assert store.record_shipment(merchant, order_id, shipment)


def rows(store: Store, table: str) -> int:
    with store.engine.begin() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


async def test_an_aftership_push_reaches_the_ups_parcel_tracked_through_aftership(api, store, temporal):
    ups_parcel(store, "acme", "A-1")
    content = body()
    response = await api.post("/v1/carriers/aftership/events", content=content, headers=signed(content))
    assert response.status_code == 202, response.text
    assert response.json() == {"carrier": "aftership", "events": 5, "matched": [UPS], "unmatched": []}
    [(child, signal, events)] = temporal.signals
    assert (child, signal) == (CHILD, "tracking_update")
    assert events[-1].status is TrackingStatus.DELIVERED and events[-1].carrier == "aftership"
    assert rows(store, "tracking_events") == 5 and rows(store, "carrier_payloads") == 1
    again = await api.post("/v1/carriers/aftership/events", content=content, headers=signed(content))
    assert again.status_code == 202 and rows(store, "tracking_events") == 5 and rows(store, "carrier_payloads") == 1


async def test_a_parcel_recorded_with_another_carrier_is_not_the_one_aftership_names(api, store, temporal):
    ups_parcel(store, "acme", "A-1", carrier="fedex")  # the same number, but the merchant said FedEx
    content = body()
    response = await api.post("/v1/carriers/aftership/events", content=content, headers=signed(content))
    assert response.status_code == 202 and response.json()["unmatched"] == [UPS]
    assert temporal.signals == [] and rows(store, "tracking_events") == 0


async def test_a_merchants_own_secret_speaks_for_its_parcels_only(api, store, temporal):
    ups_parcel(store, "acme", "A-1")
    ups_parcel(store, "bravo", "B-1")
    content = body()
    response = await api.post(
        "/v1/carriers/aftership/events?merchant_id=acme", content=content, headers=signed(content, ACME_OWN)
    )
    assert response.status_code == 202, response.text
    assert [child for child, _, _ in temporal.signals] == [CHILD]  # not bravo's parcel with the same number
    ours = await api.post("/v1/carriers/aftership/events?merchant_id=acme", content=content, headers=signed(content))
    assert ours.status_code == 401 and "bad signature" in ours.json()["message"]


async def test_an_unknown_merchant_is_refused_exactly_like_a_bad_signature(api, store, temporal):
    content = body()
    ghost = await api.post(
        "/v1/carriers/aftership/events?merchant_id=ghost", content=content, headers=signed(content, ACME_OWN)
    )
    wrong = await api.post(
        "/v1/carriers/aftership/events?merchant_id=acme", content=content, headers=signed(content, "guess")
    )
    assert ghost.status_code == wrong.status_code == 401
    assert ghost.json() == wrong.json() and "ghost" not in ghost.text
    assert rows(store, "carrier_payloads") == 0 and temporal.signals == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (body()[:300], "malformed JSON body"),
        (b'{"event": "tracking_update", "msg": {"slug": "ups"}, "ts": 1}', "msg.tracking_number is missing"),
        (b'{"event": "return.approved", "msg": {}}', "not an AfterShip tracking event"),
    ],
)
async def test_a_malformed_or_truncated_push_is_a_400_naming_the_problem_and_stores_nothing(
    api, store, temporal, content, message
):
    ups_parcel(store, "acme", "A-1")
    response = await api.post("/v1/carriers/aftership/events", content=content, headers=signed(content))
    assert response.status_code == 400 and message in response.json()["message"]
    assert rows(store, "carrier_payloads") == 0 and rows(store, "tracking_events") == 0 and temporal.signals == []


async def test_an_unsigned_push_is_a_401(api, store):
    content = body()
    response = await api.post("/v1/carriers/aftership/events", content=content)
    assert response.status_code == 401 and "missing aftership-hmac-sha256" in response.json()["message"]
