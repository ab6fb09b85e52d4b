"""`POST /v1/webhooks/shopify` on the real app (bundled policies: the demo merchant connects
aftercare-demo.myshopify.com), with a stand-in for Temporal that records what it was asked.

Who may send (the shop's signature, its secret from the variable the policy names), what a retry or an older
update changes (nothing), what a malformed body stores (nothing), and what each topic asks of the journey."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from temporalio.service import RPCError, RPCStatusCode

from connectors.stores.shopify import sign
from connectors.stores.woocommerce import sign as wc_sign
from domain import journey_id, shipment_workflow_id
from policies.loader import load_policy_text
from storage import Store
from tests.api.intake_app import FakeTemporal, build

FIXTURES = Path(__file__).parents[1] / "connectors" / "fixtures" / "shopify"
SHOP = "aftercare-demo.myshopify.com"
SECRET = "shpss_api_test"
ORDER_ID = "820982911946154508"
JOURNEY = journey_id("demo", ORDER_ID)


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
async def api(
    store: Store, temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SHOPIFY_DEMO_WEBHOOK_SECRET", SECRET)
    transport = httpx.ASGITransport(app=build(store, temporal))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:  # no token: a webhook
        yield client


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def deliver(
    api: httpx.AsyncClient,
    topic: str,
    body: bytes,
    webhook_id: str,
    *,
    secret: str = SECRET,
    shop: str = SHOP,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret) if signature is None else signature,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2025-10",
    }
    return await api.post("/v1/webhooks/shopify", content=body, headers=headers)


def signalled(temporal: FakeTemporal) -> list[tuple[str, str]]:
    """(workflow id, signal method name) of every signal sent (the stand-in keeps the method's repr)."""
    return [(wid, re.sub(r"^<function \w+\.(\w+) at .*$", r"\1", name)) for wid, name in temporal.signals]


def rows(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)


async def placed(api: httpx.AsyncClient) -> None:
    response = await deliver(api, "orders/create", body_of("orders_create.json"), "wh-create")
    assert response.status_code == 200, response.text


# --- who may send ----------------------------------------------------------------------------------------


async def test_orders_create_starts_the_journey_as_the_json_api_does(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    response = await deliver(api, "orders/create", body_of("orders_create.json"), "wh-1")
    assert response.status_code == 200, response.text
    assert response.json() | {"delivery_id": "-"} == {
        "platform": "shopify",
        "topic": "orders/create",
        "delivery_id": "-",
        "outcome": "journey started",
        "order_id": ORDER_ID,
        "duplicate": False,
    }
    order = store.get_order("demo", ORDER_ID)
    assert order is not None and order.customer.email == "jon@example.com" and len(order.items) == 2
    assert temporal.started == [JOURNEY]
    raw = store.get_raw_order("demo", ORDER_ID)
    assert raw is not None and raw["name"] == "#9999"  # Shopify's own body, kept as the order's payload


@pytest.mark.parametrize(
    ("signature", "secret", "message"),
    [
        ("", SECRET, "missing X-Shopify-Hmac-Sha256"),
        (None, "another-secret", "bad signature"),
        ("bm90IHRoZSBzaWduYXR1cmU=", SECRET, "bad signature"),
    ],
    ids=["missing", "wrong secret", "forged"],
)
async def test_a_delivery_not_signed_by_the_shop_is_401_and_stores_nothing(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal, signature: str | None, secret: str, message: str
) -> None:
    response = await deliver(
        api, "orders/create", body_of("orders_create.json"), "wh-1", secret=secret, signature=signature
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature" and message in response.json()["message"]
    assert store.get_order("demo", ORDER_ID) is None and rows(store, "store_deliveries") == 0
    assert temporal.started == []


async def test_an_unknown_shop_is_404(api: httpx.AsyncClient, store: Store) -> None:
    response = await deliver(
        api, "orders/create", body_of("orders_create.json"), "wh-1", shop="elsewhere.myshopify.com"
    )
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_shop" and "elsewhere.myshopify.com" in response.json()["message"]
    assert rows(store, "orders") == 0


async def test_a_known_shop_without_its_secret_set_is_503_naming_the_variable(
    api: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_DEMO_WEBHOOK_SECRET")
    response = await deliver(api, "orders/create", body_of("orders_create.json"), "wh-1")
    assert response.status_code == 503
    assert response.json()["error"] == "webhook_secret_not_set"
    assert "SHOPIFY_DEMO_WEBHOOK_SECRET" in response.json()["message"] and SECRET not in response.text
    assert rows(store, "orders") == 0


async def test_an_unknown_platform_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/webhooks/magento", content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 404 and "shopify" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"id": 820982911946154508, "currency": "USD", "line_items": [{"id": 1', "not valid JSON"),
        (b'{"id": 820982911946154508, "currency": "USD", "total_price": "a lot"}', "total_price"),
    ],
    ids=["truncated", "wrong field"],
)
async def test_a_malformed_body_is_400_naming_the_problem_and_stores_nothing(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal, body: bytes, message: str
) -> None:
    response = await deliver(api, "orders/create", body, "wh-1")
    assert response.status_code == 400 and message in response.json()["message"]
    assert rows(store, "orders") == 0 and rows(store, "store_deliveries") == 0 and temporal.started == []


async def test_a_body_over_the_limit_is_413(api: httpx.AsyncClient, store: Store) -> None:
    body = json.dumps({"id": 1, "note": "x" * (2 * 1024 * 1024)}).encode()
    response = await deliver(api, "orders/create", body, "wh-big")
    assert response.status_code == 413 and rows(store, "store_deliveries") == 0


# --- nothing twice ---------------------------------------------------------------------------------------


async def test_a_retried_delivery_changes_nothing(api: httpx.AsyncClient, store: Store, temporal: FakeTemporal) -> None:
    body = body_of("refunds_create.json")
    await placed(api)
    first = await deliver(api, "refunds/create", body, "wh-refund")
    again = await deliver(api, "refunds/create", body, "wh-refund")
    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["outcome"] == first.json()["outcome"]
    assert [s for s in signalled(temporal) if "store_refunded" in s[1]] == [(JOURNEY, "store_refunded")]
    assert rows(store, "store_deliveries") == 2  # the order, the refund: once each


async def test_the_same_order_under_a_new_delivery_id_starts_nothing_new(
    api: httpx.AsyncClient, temporal: FakeTemporal
) -> None:
    await placed(api)
    response = await deliver(api, "orders/create", body_of("orders_create.json"), "wh-other")
    assert response.json()["outcome"] == "unchanged: the order is known"
    assert set(temporal.started) == {JOURNEY}  # asked again for the same journey, which Temporal keeps as it is


async def test_an_order_stored_while_temporal_was_down_gets_its_journey_on_the_retry(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = temporal.start_workflow

    async def unavailable(*_: Any, **__: Any) -> None:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(temporal, "start_workflow", unavailable)
    down = await deliver(api, "orders/create", body_of("orders_create.json"), "wh-1")
    assert down.status_code == 503 and rows(store, "store_deliveries") == 0  # Shopify will retry it
    monkeypatch.setattr(temporal, "start_workflow", started)
    retried = await deliver(api, "orders/create", body_of("orders_create.json"), "wh-1")
    assert retried.status_code == 200 and temporal.started == [JOURNEY]


async def test_an_update_older_than_the_one_held_changes_nothing(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    await placed(api)
    newer = await deliver(api, "orders/updated", body_of("orders_updated.json"), "wh-upd-2")
    assert newer.json()["outcome"] == "recorded: update; consent passed on"
    assert (JOURNEY, "store_consent_changed") in signalled(temporal)
    older = json.loads(body_of("orders_updated.json"))
    older["updated_at"] = "2026-11-27T08:00:00-04:00"  # before the one held, delivered after it
    late = await deliver(api, "orders/updated", json.dumps(older).encode(), "wh-upd-1")
    assert late.status_code == 200 and late.json()["outcome"] == "unchanged: an older update than the one held"
    assert [name for _, name in signalled(temporal)].count("store_consent_changed") == 1


async def test_an_update_of_an_order_we_never_saw_starts_its_journey(
    api: httpx.AsyncClient, temporal: FakeTemporal
) -> None:
    response = await deliver(api, "orders/updated", body_of("orders_updated.json"), "wh-upd")
    assert response.json()["outcome"] == "journey started" and temporal.started == [JOURNEY]


async def test_a_topic_we_do_not_act_on_is_200_ignored(api: httpx.AsyncClient) -> None:
    response = await deliver(api, "products/update", b'{"id": 1}', "wh-product")
    assert response.status_code == 200 and response.json()["outcome"].startswith("ignored")


# --- what each topic asks of the journey -----------------------------------------------------------------


async def test_a_fulfillment_tracks_its_parcel_through_shopify(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    await placed(api)
    response = await deliver(api, "fulfillments/create", body_of("fulfillments_create.json"), "wh-ful")
    assert response.status_code == 200, response.text
    [shipment] = store.list_shipments("demo", ORDER_ID)
    assert (shipment.carrier, shipment.tracking_number) == ("ups", "1Z2345E20000000001")
    assert shipment.items == {"141249953214522974": 1}
    assert (JOURNEY, "shipment_created") in signalled(temporal)


async def test_shopifys_shipment_status_reaches_the_parcels_tracking(
    api: httpx.AsyncClient, temporal: FakeTemporal
) -> None:
    await placed(api)
    await deliver(api, "fulfillments/create", body_of("fulfillments_create.json"), "wh-ful")
    response = await deliver(api, "fulfillments/update", body_of("fulfillments_update_delivered.json"), "wh-ful-2")
    assert response.status_code == 200 and response.json()["outcome"].endswith("delivered")
    child = shipment_workflow_id("demo", "shopify", "1Z2345E20000000001")
    assert (child, "tracking_update") in signalled(temporal)


async def test_a_fulfillment_without_tracking_number_is_recorded_not_tracked(
    api: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    await placed(api)
    response = await deliver(api, "fulfillments/create", body_of("fulfillments_create_no_tracking.json"), "wh-f")
    assert response.status_code == 200 and "not tracked" in response.json()["outcome"]
    assert store.list_shipments("demo", ORDER_ID) == []
    assert not any(name == "shipment_created" for _, name in signalled(temporal))


async def test_a_cancelled_fulfillment_stops_its_tracking(api: httpx.AsyncClient, temporal: FakeTemporal) -> None:
    await placed(api)
    await deliver(api, "fulfillments/create", body_of("fulfillments_create.json"), "wh-ful")
    response = await deliver(api, "fulfillments/update", body_of("fulfillments_update_cancelled.json"), "wh-c")
    assert response.json()["outcome"] == "tracking stopped"
    assert (shipment_workflow_id("demo", "shopify", "1Z2345E20000000001"), "stop_tracking") in signalled(temporal)


async def test_a_cancellation_is_a_fact_for_the_journey(api: httpx.AsyncClient, temporal: FakeTemporal) -> None:
    await placed(api)
    response = await deliver(api, "orders/cancelled", body_of("orders_cancelled.json"), "wh-cancel")
    assert response.json()["outcome"] == "cancelled"
    assert (JOURNEY, "store_cancelled") in signalled(temporal)


async def test_facts_about_an_order_not_received_yet_are_retried(api: httpx.AsyncClient, store: Store) -> None:
    """Shopify does not promise order: a refund before its orders/create is answered 409, so Shopify retries it."""
    response = await deliver(api, "refunds/create", body_of("refunds_create.json"), "wh-early")
    assert response.status_code == 409 and response.json()["error"] == "order_not_known_yet"
    assert rows(store, "store_deliveries") == 0


async def test_a_payment_is_recorded(api: httpx.AsyncClient, temporal: FakeTemporal) -> None:
    await placed(api)
    response = await deliver(api, "orders/paid", body_of("orders_paid.json"), "wh-paid")
    assert response.json()["outcome"] == "recorded: paid"


def test_fixture_bodies_are_objects() -> None:
    data: Any = json.loads(body_of("orders_create.json"))
    assert isinstance(data, dict)


# --- WooCommerce through the same route ---------------------------------------------------------------------

WC_POLICY = """
version: 1
merchant: {id: woo, name: Woo Shop}
store: {platform: woocommerce, site_url: "https://shop.example.com/", webhook_secret_env: WOO_WEBHOOK_SECRET}
"""
WC_FIXTURES = Path(__file__).parents[1] / "connectors" / "fixtures" / "woocommerce"


@pytest.fixture
async def woo(
    store: Store, temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("WOO_WEBHOOK_SECRET", "wc-secret")
    app = build(store, temporal)
    services = app.state.services
    services.policies = {**services.policies, "woo": load_policy_text(WC_POLICY, "woo.yaml")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def wc_headers(body: bytes, secret: str = "wc-secret") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-Signature": wc_sign(body, secret),
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": "9d2ab1f3c0e0cbb2d5f0f6a4e0bfb4a1",
    }


async def test_woocommerce_plugs_into_the_same_route(
    woo: httpx.AsyncClient, store: Store, temporal: FakeTemporal
) -> None:
    ping = await woo.post(
        "/v1/webhooks/woocommerce",
        content=b"webhook_id=7",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ping.status_code == 200 and ping.json()["outcome"] == "pong"
    body = (WC_FIXTURES / "order_created.json").read_bytes()
    forged = await woo.post("/v1/webhooks/woocommerce", content=body, headers=wc_headers(body, "not-the-secret"))
    assert forged.status_code == 401 and rows(store, "orders") == 0
    placed = await woo.post("/v1/webhooks/woocommerce", content=body, headers=wc_headers(body))
    assert placed.status_code == 200, placed.text
    assert placed.json()["outcome"].startswith("journey started")
    assert temporal.started == [journey_id("woo", placed.json()["order_id"])]
    again = await woo.post("/v1/webhooks/woocommerce", content=body, headers=wc_headers(body))
    assert again.json()["duplicate"] is True and temporal.started == [journey_id("woo", placed.json()["order_id"])]
