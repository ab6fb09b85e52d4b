"""The Shopify store connector against Shopify's published webhook shapes (fixtures under fixtures/shopify/, written
from shopify.dev's REST Order, Fulfillment and Refund resources and the webhook topics' example payloads)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.stores import STORES, SignatureError, WebhookError
from connectors.stores.regions import customer_timezone
from connectors.stores.shopify import SHIPMENT_STATUS_MAP, ShopifyWebhooks, map_shipment_status, sign
from connectors.stores.shopify import models as m
from connectors.stores.shopify.mapper import fulfillment_event, order_event, refund_event
from domain import TrackingStatus
from domain.stores import (
    FulfillmentChanged,
    FulfillmentStatus,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderUpdated,
    StoreDelivery,
    StorePlatform,
    StoreRefund,
)

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
SECRET = "shpss_test_secret"
SHOP = "aftercare-demo.myshopify.com"
ORDER_ID = "820982911946154508"
MODELS: dict[str, type[m.ShopifyModel]] = {
    "orders_": m.Order,
    "fulfillments_": m.Fulfillment,
    "refunds_": m.Refund,
}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def headers(body: bytes, topic: str, secret: str = SECRET, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-API-Version": "2025-10",
        **extra,
    }


def parse(topic: str, data: dict[str, Any] | bytes) -> Any:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    connector = ShopifyWebhooks()
    given = headers(body, topic)
    connector.verify(body, given, SECRET)
    delivery = connector.envelope(given, connector.shop_of(given), body)
    events = connector.parse(delivery, body, "demo")
    assert len(events) <= 1  # a Shopify delivery is about one thing
    return events[0] if events else None


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_is_a_shopify_object(name: str) -> None:
    model = next(model for prefix, model in MODELS.items() if name.startswith(prefix))
    model.model_validate(fixture(name))


# --- orders ------------------------------------------------------------------------------------------------


def test_an_order_maps_items_variants_properties_and_discounts() -> None:
    event = parse("orders/create", fixture("orders_create.json"))
    assert isinstance(event, OrderPlaced)
    order = event.order
    assert (order.merchant_id, order.order_id, order.currency) == ("demo", ORDER_ID, "USD")
    assert order.number == "#9999"  # what the customer calls it, in every message
    assert order.total == Decimal("2411.08")  # after the 20.00 discount, with 135.23 tax and 10.00 shipping
    engraved, boards = order.items
    assert (engraved.id, engraved.sku, engraved.quantity, engraved.unit_price) == (
        "866550311766439020",
        "SNOW-VID-158",
        1,
        Decimal("885.95"),
    )
    assert engraved.name == "The Videographer Snowboard - 158cm (Engraving: Happy Birthday)"  # `_` properties hidden
    assert (boards.sku, boards.quantity, boards.name) == ("SNOW-COMP", 2, "The Complete Snowboard - Ice")
    assert boards.unit_price == Decimal("689.95")  # 699.95 less its share of the line's 20.00 discount
    assert order.tags == ["vip", "winter"]
    assert order.payment is not None and order.payment.reference == "pi_3Nx9sandbox0001"
    assert event.updated_at is not None and event.updated_at.isoformat() == "2026-11-26T12:33:22-04:00"


def test_an_order_maps_the_customer_consent_address_and_time_zone() -> None:
    order = parse("orders/create", fixture("orders_create.json")).order
    customer = order.customer
    assert customer.id == "115310627314723954"
    assert (customer.first_name, customer.last_name) == ("John", "Smith")
    assert customer.email == "jon@example.com"  # the order's email, which the customer gave at checkout
    assert customer.phone == "+16135550135"
    assert customer.locale == "en-US"
    assert customer.timezone is None  # shipped to Kentucky, which straddles two zones: the policy's zone is used
    assert customer.marketing_consent is True  # email_marketing_consent: subscribed
    address = order.shipping_address
    assert (address.country, address.region, address.city, address.postal_code) == ("US", "KY", "Shippington", "40003")
    assert address.name == "Steve Shipper"


@pytest.mark.parametrize(
    ("email_state", "sms_state", "buyer_accepts", "expected"),
    [
        ("subscribed", None, False, True),
        ("not_subscribed", "subscribed", False, True),
        ("unsubscribed", None, True, False),  # the customer's own consent wins over the checkout box
        (None, None, True, True),  # no consent objects (older API versions): the checkout box
        (None, None, False, False),
    ],
)
def test_marketing_consent(email_state: str | None, sms_state: str | None, buyer_accepts: bool, expected: bool) -> None:
    data = fixture("orders_create.json")
    customer = data["customer"]
    customer["email_marketing_consent"] = {"state": email_state, "opt_in_level": None} if email_state else None
    customer["sms_marketing_consent"] = {"state": sms_state, "opt_in_level": None} if sms_state else None
    data["buyer_accepts_marketing"] = buyer_accepts
    assert parse("orders/create", data).order.customer.marketing_consent is expected


def test_a_draft_order_without_email_or_phone_still_maps() -> None:
    order = parse("orders/create", fixture("orders_create_draft_no_contact.json")).order
    assert order.customer.email is None and order.customer.phone is None
    assert order.customer.id == "guest-820982911946154599"
    assert order.customer.timezone == "Europe/Berlin"
    assert order.customer.marketing_consent is False


def test_odd_contact_details_are_left_out_not_refused() -> None:
    data = fixture("orders_create.json")
    data["phone"], data["customer"]["phone"] = "555-555-SHIP", None
    data["email"], data["contact_email"] = "not an email", None
    customer = parse("orders/create", data).order.customer
    assert customer.phone is None
    assert customer.email == "john@example.com"  # the next address Shopify gave: the customer's


def test_a_line_item_without_sku_is_known_by_its_variant() -> None:
    data = fixture("orders_create.json")
    data["line_items"][0]["sku"] = None
    assert parse("orders/create", data).order.items[0].sku == "variant-49121760117052"


@pytest.mark.parametrize(
    ("topic", "name", "kind"),
    [
        ("orders/updated", "orders_updated.json", OrderUpdated),
        ("orders/paid", "orders_paid.json", OrderPaid),
        ("orders/cancelled", "orders_cancelled.json", OrderCancelled),
    ],
)
def test_order_topics(topic: str, name: str, kind: type) -> None:
    event = parse(topic, fixture(name))
    assert isinstance(event, kind)


def test_an_update_carries_the_new_consent_and_its_time() -> None:
    event = parse("orders/updated", fixture("orders_updated.json"))
    assert event.order.customer.marketing_consent is False
    assert event.updated_at.isoformat() == "2026-11-27T09:00:00-04:00"


def test_a_cancellation_says_why() -> None:
    event = parse("orders/cancelled", fixture("orders_cancelled.json"))
    assert (event.order_id, event.reason) == (ORDER_ID, "customer")


# --- time zones --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "province", "zone"),
    [
        ("DE", None, "Europe/Berlin"),
        ("JP", None, "Asia/Tokyo"),
        ("FR", None, "Europe/Paris"),
        ("US", "CA", "America/Los_Angeles"),
        ("US", "AZ", "America/Phoenix"),
        ("US", "NY", "America/New_York"),
        ("US", None, None),  # six zones: the policy's default
        ("US", "TX", None),  # El Paso keeps Mountain time
        ("CA", "AB", "America/Edmonton"),
        ("AU", "VIC", "Australia/Melbourne"),
        ("BR", "SP", "America/Sao_Paulo"),
        ("BR", "AM", None),  # Amazonas straddles
        ("BR", None, None),
        ("MX", "BCN", "America/Tijuana"),
        ("MX", "JAL", "America/Mexico_City"),
        ("RU", None, None),
        (None, None, None),
    ],
)
def test_customer_time_zone(country: str | None, province: str | None, zone: str | None) -> None:
    assert customer_timezone(country, province) == zone


# --- fulfillments ------------------------------------------------------------------------------------------


def test_a_partial_fulfillment_tracks_its_parcel_with_the_carrier_shopify_names() -> None:
    event = parse("fulfillments/create", fixture("fulfillments_create.json"))
    assert isinstance(event, FulfillmentChanged)
    assert (event.order_id, event.fulfillment_id, event.status) == (ORDER_ID, "255858046", FulfillmentStatus.ACTIVE)
    shipment = event.shipment
    assert shipment is not None
    assert (shipment.carrier, shipment.provider, shipment.tracking_number) == ("ups", "shopify", "1Z2345E20000000001")
    assert shipment.items == {"141249953214522974": 1}  # one of the two boards: the rest ships later
    assert shipment.tracking_url is not None and shipment.tracking_url.startswith("https://www.ups.com/")
    assert event.shipment_status is None


def test_a_fulfillment_without_tracking_number_is_not_tracked() -> None:
    event = parse("fulfillments/create", fixture("fulfillments_create_no_tracking.json"))
    assert event.shipment is None and event.status is FulfillmentStatus.ACTIVE


def test_a_fulfillment_update_carries_shopifys_shipment_status() -> None:
    assert parse("fulfillments/update", fixture("fulfillments_update_in_transit.json")).shipment_status is (
        TrackingStatus.IN_TRANSIT
    )
    delivered = parse("fulfillments/update", fixture("fulfillments_update_delivered.json"))
    assert delivered.shipment_status is TrackingStatus.DELIVERED
    assert delivered.updated_at.isoformat() == "2026-11-29T14:10:00-04:00"


def test_a_cancelled_fulfillment_says_so() -> None:
    event = parse("fulfillments/update", fixture("fulfillments_update_cancelled.json"))
    assert event.status is FulfillmentStatus.CANCELLED


def test_a_tracking_url_that_is_no_web_address_is_dropped() -> None:
    data = fixture("fulfillments_create.json")
    data["tracking_url"], data["tracking_urls"] = "javascript:alert(1)", ["javascript:alert(1)"]
    event = fulfillment_event("fulfillments/create", data)
    assert event.shipment is not None and event.shipment.tracking_url is None


@pytest.mark.parametrize(
    ("company", "slug"),
    [("UPS", "ups"), ("Royal Mail", "royal_mail"), ("Acme Couriers", "acme_couriers"), (None, "other")],
)
def test_carrier_names_become_our_slugs(company: str | None, slug: str) -> None:
    data = fixture("fulfillments_create.json")
    data["tracking_company"] = company
    event = fulfillment_event("fulfillments/create", data)
    assert event.shipment is not None and event.shipment.carrier == slug


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("label_printed", TrackingStatus.PENDING),
        ("label_purchased", TrackingStatus.PENDING),
        ("confirmed", TrackingStatus.PENDING),
        ("submitted", TrackingStatus.PENDING),
        ("carrier_picked_up", TrackingStatus.IN_TRANSIT),
        ("in_transit", TrackingStatus.IN_TRANSIT),
        ("delayed", TrackingStatus.IN_TRANSIT),
        ("out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY),
        ("attempted_delivery", TrackingStatus.ATTEMPT_FAILED),
        ("ready_for_pickup", TrackingStatus.AVAILABLE_FOR_PICKUP),
        ("picked_up", TrackingStatus.DELIVERED),
        ("delivered", TrackingStatus.DELIVERED),
        ("failure", TrackingStatus.EXCEPTION),
        ("not_delivered", TrackingStatus.EXCEPTION),
        ("label_voided", TrackingStatus.CANCELLED),
        ("teleported", TrackingStatus.UNKNOWN),
        (None, None),
    ],
)
def test_shipment_status_table(code: str | None, status: TrackingStatus | None) -> None:
    assert map_shipment_status(code) is status


def test_the_table_lists_every_code_tested() -> None:
    assert len(SHIPMENT_STATUS_MAP) == 15


# --- refunds -----------------------------------------------------------------------------------------------


def test_a_refund_names_its_items_and_the_money_returned() -> None:
    event = parse("refunds/create", fixture("refunds_create.json"))
    assert isinstance(event, StoreRefund)
    assert (event.order_id, event.refund_id) == (ORDER_ID, "509562969")
    assert event.items == {"866550311766439020": 1}
    assert (event.amount, event.currency) == (Decimal("939.11"), "USD")


def test_a_shipping_only_refund_names_no_item() -> None:
    event = parse("refunds/create", fixture("refunds_create_shipping_only.json"))
    assert event.items == {} and event.amount == Decimal("10.00")


def test_a_refund_without_transactions_adds_up_its_lines_and_adjustments() -> None:
    data = fixture("refunds_create.json")
    data["transactions"] = []
    data["order_adjustments"] = [{"amount": "-10.00", "tax_amount": "0.00", "kind": "shipping_refund"}]
    event = refund_event("refunds/create", data)
    assert event.amount == Decimal("885.95") + Decimal("53.16") + Decimal("10.00")
    assert event.currency == "XXX"  # none named: the API puts the order's in


# --- the envelope and the signature ------------------------------------------------------------------------


def test_a_signed_delivery_passes_and_reads_its_envelope() -> None:
    body = (FIXTURES / "orders_create.json").read_bytes()
    given = headers(body, "orders/create")
    connector = STORES[StorePlatform.SHOPIFY]
    connector.verify(body, given, SECRET)
    assert connector.envelope(given, connector.shop_of(given), body) == StoreDelivery(
        platform=StorePlatform.SHOPIFY,
        shop=SHOP,
        topic="orders/create",
        delivery_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    )


def test_headers_are_read_whatever_their_case() -> None:
    body = b"{}"
    given = {k.lower(): v for k, v in headers(body, "orders/create").items()}
    ShopifyWebhooks().verify(body, given, SECRET)
    assert ShopifyWebhooks().shop_of({"x-shopify-shop-domain": "Aftercare-Demo.MyShopify.com"}) == SHOP


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"}),
            "missing X-Shopify-Hmac-Sha256",
        ),
        (lambda b, h: (b, h | {"X-Shopify-Hmac-Sha256": sign(b, "another-secret")}), "bad signature"),
        (lambda b, h: (b.replace(b"885.95", b"0.01"), h), "bad signature"),
        (lambda b, h: (b, h | {"X-Shopify-Hmac-Sha256": ""}), "missing X-Shopify-Hmac-Sha256"),
    ],
    ids=["missing", "wrong secret", "changed body", "empty"],
)
def test_a_delivery_not_signed_with_the_shops_secret_is_refused(change: Any, message: str) -> None:
    body = (FIXTURES / "orders_create.json").read_bytes()
    body, given = change(body, headers(body, "orders/create"))
    with pytest.raises(SignatureError, match=message):
        ShopifyWebhooks().verify(body, given, SECRET)


def test_no_secret_never_verifies() -> None:
    with pytest.raises(SignatureError, match="no Shopify webhook secret"):
        ShopifyWebhooks().verify(b"{}", headers(b"{}", "orders/create", secret="x"), "")


def test_a_delivery_without_shop_or_topic_is_refused() -> None:
    with pytest.raises(WebhookError, match="missing X-Shopify-Shop-Domain"):
        ShopifyWebhooks().shop_of({})
    with pytest.raises(WebhookError, match="missing X-Shopify-Topic"):
        ShopifyWebhooks().envelope({}, SHOP, b"{}")


def test_a_delivery_without_webhook_id_is_known_by_its_body() -> None:
    one = ShopifyWebhooks().envelope({"X-Shopify-Topic": "orders/create"}, SHOP, b'{"id": 1}')
    again = ShopifyWebhooks().envelope({"X-Shopify-Topic": "orders/create"}, SHOP, b'{"id": 1}')
    assert one.delivery_id == again.delivery_id and one.delivery_id is not None
    assert one.delivery_id.startswith("sha256:")


def test_a_topic_we_do_not_act_on_is_none() -> None:
    assert parse("products/update", b'{"id": 1}') is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"id": 820982911946154508, "currency": "USD", "total_price": "1.00", "line_items": [', "not valid JSON"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'{"currency": "USD", "total_price": "1.00"}', "id: Field required"),
    ],
    ids=["truncated", "not json", "a list", "no id"],
)
def test_malformed_bodies_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        parse("orders/create", body)


def test_a_wrong_field_is_named_without_its_value() -> None:
    data = fixture("orders_create.json")
    data["line_items"][1]["price"] = "very expensive"
    with pytest.raises(WebhookError) as refused:
        parse("orders/create", data)
    assert "line_items.1.price" in str(refused.value) and "very expensive" not in str(refused.value)


def test_an_order_without_line_items_is_refused() -> None:
    data = fixture("orders_create.json")
    data["line_items"] = []
    with pytest.raises(WebhookError, match="line_items"):
        order_event("orders/create", data, "demo")


def test_personal_data_never_reaches_the_error() -> None:
    data = copy.deepcopy(fixture("orders_create.json"))
    data["created_at"] = "last tuesday"
    with pytest.raises(WebhookError) as refused:
        parse("orders/create", data)
    assert "created_at" in str(refused.value)
    assert "jon@example.com" not in str(refused.value) and "Steve" not in str(refused.value)
