"""Orders and shipments whose journey could never run are refused at intake, naming the field, and nothing
is stored: the journey would otherwise fail inside a workflow (a zone it cannot load, a date its timers
overflow on, a carrier it cannot poll) or send the customer something wrong (a `javascript:` button)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain import Order
from storage import Store
from tests.api.intake_app import MERCHANT, FakeTemporal, build, merchant_token, order_payload


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
async def api(store: Store, temporal: FakeTemporal) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build(store, temporal))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=merchant_token(store)) as c:
        yield c


def _with(path: str, value: Any) -> dict[str, Any]:
    """The valid order with one field (dotted path, `items.0.quantity`) set to `value`."""
    payload = order_payload()
    *parents, last = path.split(".")
    target: Any = payload
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return payload


async def test_a_valid_order_is_accepted_and_stored(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    """The control: the payload the refusals below each break in one place is itself fine."""
    response = await api.post("/v1/orders", json=order_payload() | {"currency": "eur"})
    assert response.status_code == 201, response.text
    stored = store.get_order(MERCHANT, "A-1001")
    assert stored is not None and stored.currency == "EUR" and stored.customer.locale == "de-CH"
    assert temporal.started == [stored.workflow_id]


NOW = datetime.now(UTC)

REFUSED: list[tuple[str, Any, str, str]] = [
    # field, value, the path the 422 names, a word of what would be valid
    ("customer.timezone", "A" * 300, "customer.timezone", "IANA"),
    ("customer.timezone", "Mars/Olympus_Mons", "customer.timezone", "Europe/Paris"),
    ("customer.locale", "x" * 300, "customer.locale", "BCP 47"),
    ("customer.locale", "english please", "customer.locale", "de-CH"),
    ("placed_at", "9999-12-31T23:00:00Z", "placed_at", "future"),
    ("placed_at", "1970-01-01T00:00:00Z", "placed_at", "2000"),
    ("placed_at", "2026-11-22T10:00:00", "placed_at", "timezone"),
    ("placed_at", (NOW + timedelta(days=3)).isoformat(), "placed_at", "future"),
    ("currency", "XYZ", "currency", "ISO 4217"),
    ("currency", "EURO", "currency", "ISO 4217"),
    ("total", "1e30", "total", "1000000000"),
    ("total", "59.851", "total", "decimals"),
    ("total", "NaN", "total", ""),
    ("items.0.unit_price", "29.955", "items", "decimals"),
    ("items.0.quantity", 100_000, "items[0].quantity", "10000"),
    ("items.0.quantity", -1, "items[0].quantity", "1"),
    ("items.0.sku", "S" * 1000, "items[0].sku", "128"),
    ("items.0.name", "N" * 1000, "items[0].name", "500"),
    ("customer.first_name", "F" * 5000, "customer.first_name", "200"),
    ("customer.last_name", "L" * 5000, "customer.last_name", "200"),
    ("customer.email", "a" * 300 + "@example.com", "customer.email", ""),
    ("shipping_address.line1", "Street " * 500, "shipping_address.line1", "200"),
    ("shipping_address.city", "C" * 500, "shipping_address.city", "100"),
    ("shipping_address.postal_code", "9" * 500, "shipping_address.postal_code", "20"),
    ("tags", ["t"] * 51, "tags", "50"),
    ("tags", ["t" * 500], "tags[0]", "64"),
]


@pytest.mark.parametrize(
    ("field", "value", "path", "hint"), REFUSED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)]
)
async def test_an_order_that_cannot_run_is_refused_naming_the_field_and_nothing_is_stored(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal, field: str, value: Any, path: str, hint: str
) -> None:
    response = await api.post("/v1/orders", json=_with(field, value))
    assert response.status_code == 422, response.text
    body = response.json()
    assert path in {p["path"] for p in body["problems"]}, body
    assert hint in body["message"]
    assert store.get_order(MERCHANT, "A-1001") is None
    assert temporal.started == []


async def test_too_many_items_is_refused(api: httpx.AsyncClient, store: Store) -> None:
    item = {"sku": "S", "name": "n", "quantity": 1, "unit_price": "0.10"}
    payload = order_payload() | {"items": [item | {"id": f"li-{n}"} for n in range(501)]}
    response = await api.post("/v1/orders", json=payload)
    assert response.status_code == 422 and response.json()["problems"][0]["path"] == "items"
    assert store.get_order(MERCHANT, "A-1001") is None


async def test_amounts_follow_the_currency_decimals(api: httpx.AsyncClient, store: Store) -> None:
    yen = order_payload() | {"currency": "JPY", "total": "5985"}
    yen["items"] = [{"id": "li-1", "sku": "S", "name": "n", "quantity": 1, "unit_price": "5985.5"}]
    refused = await api.post("/v1/orders", json=yen)
    assert refused.status_code == 422 and "JPY allows (0)" in refused.json()["message"]
    yen["items"][0]["unit_price"] = "5985"
    assert (await api.post("/v1/orders", json=yen)).status_code == 201


# --- shipments ------------------------------------------------------------------------------------------


@pytest.fixture
async def placed(api: httpx.AsyncClient) -> str:
    assert (await api.post("/v1/orders", json=order_payload())).status_code == 201
    return "A-1001"


async def test_a_valid_shipment_is_accepted(api: httpx.AsyncClient, store: Store, placed: str) -> None:
    body = {"carrier": "easypost", "tracking_number": "EZ1000000001", "items": {"li-1": 1, "li-2": 2}}
    body["tracking_url"] = "https://track.example/EZ1000000001"
    response = await api.post(f"/v1/orders/{placed}/shipments", json=body)
    assert response.status_code == 201, response.text
    assert [s.tracking_number for s in store.list_shipments(MERCHANT, placed)] == ["EZ1000000001"]


async def test_a_provider_we_cannot_track_through_is_refused_listing_the_valid_ones(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal, placed: str
) -> None:
    body = {"carrier": "UPS", "provider": "pigeon", "tracking_number": "P1234"}
    response = await api.post(f"/v1/orders/{placed}/shipments", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_carrier"
    assert "provider 'pigeon'" in response.json()["message"]
    assert "valid: aftership, easypost" in response.json()["message"]
    assert store.list_shipments(MERCHANT, placed) == [] and temporal.signals == []


async def test_a_carrier_named_as_the_store_names_it_is_tracked_through_the_merchants_provider(
    api: httpx.AsyncClient, store: Store, placed: str
) -> None:
    response = await api.post(f"/v1/orders/{placed}/shipments", json={"carrier": "UPS", "tracking_number": "1Z999AA1"})
    assert response.status_code == 201, response.text
    assert response.json()["tracking_workflow_id"] == f"shipment~{MERCHANT}~easypost~1Z999AA1"
    [shipment] = store.list_shipments(MERCHANT, placed)
    assert (shipment.carrier, shipment.provider) == ("ups", "easypost")


async def test_the_older_form_naming_the_provider_as_carrier_is_kept_as_it_was(
    api: httpx.AsyncClient, store: Store, placed: str
) -> None:
    body = {"carrier": "easypost", "tracking_number": "EZ1000000009"}
    response = await api.post(f"/v1/orders/{placed}/shipments", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["tracking_workflow_id"] == f"shipment~{MERCHANT}~easypost~EZ1000000009"
    [shipment] = store.list_shipments(MERCHANT, placed)
    assert (shipment.carrier, shipment.provider) == ("easypost", None)


async def test_a_named_provider_tracks_the_parcel_with_its_carrier_kept_for_the_customer(
    api: httpx.AsyncClient, store: Store, placed: str
) -> None:
    body = {"carrier": "Royal Mail", "provider": "aftership", "tracking_number": "RM123456785GB"}
    response = await api.post(f"/v1/orders/{placed}/shipments", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["tracking_workflow_id"] == f"shipment~{MERCHANT}~aftership~RM123456785GB"
    [shipment] = store.list_shipments(MERCHANT, placed)
    assert (shipment.carrier, shipment.provider) == ("royal_mail", "aftership")


@pytest.mark.parametrize(
    ("items", "status", "says"),
    [
        ({"li-1": 5}, 422, "li-1 (5 of 1)"),
        ({"li-2": 3}, 422, "li-2 (3 of 2)"),
        ({"li-1": -1}, 422, "items.li-1"),
        ({"li-1": 0}, 422, "items.li-1"),
        ({"li-9": 1}, 422, "li-9"),
    ],
)
async def test_parcel_quantities_must_be_within_the_line(
    api: httpx.AsyncClient,
    store: Store,
    temporal: FakeTemporal,
    placed: str,
    items: dict[str, int],
    status: int,
    says: str,
) -> None:
    body = {"carrier": "easypost", "tracking_number": "EZ1000000002", "items": items}
    response = await api.post(f"/v1/orders/{placed}/shipments", json=body)
    assert response.status_code == status
    assert says in response.json()["message"]
    assert store.list_shipments(MERCHANT, placed) == [] and temporal.signals == []


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript://track.example/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://track.example/1",
        "https://track.example/" + "x" * 3000,
    ],
)
async def test_a_tracking_url_must_be_a_bounded_web_address(
    api: httpx.AsyncClient, store: Store, placed: str, url: str
) -> None:
    body = {"carrier": "easypost", "tracking_number": "EZ1000000003", "tracking_url": url}
    response = await api.post(f"/v1/orders/{placed}/shipments", json=body)
    assert response.status_code == 422
    assert [p["path"] for p in response.json()["problems"]] == ["tracking_url"]
    assert store.list_shipments(MERCHANT, placed) == []


async def test_a_currency_out_of_use_is_refused_at_intake_but_a_running_journey_still_decodes_it(
    api: httpx.AsyncClient, store: Store
) -> None:
    """Croatia's kuna left use in 2023: a new order in it is refused, but a journey that took one earlier
    must still decode its input after an upgrade (a validator would fail its every workflow task)."""
    refused = await api.post("/v1/orders", json=order_payload() | {"currency": "HRK"})
    assert refused.status_code == 422 and refused.json()["problems"] == [
        {"path": "currency", "message": "'HRK' is not an ISO 4217 currency in use; use one such as EUR or USD"}
    ]
    assert store.get_order(MERCHANT, "A-1001") is None
    assert Order.model_validate(order_payload() | {"currency": "HRK"}).currency == "HRK"
