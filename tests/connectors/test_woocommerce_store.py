"""The WooCommerce store connector: deliveries in WooCommerce's own format, as a route would take them.

Fixtures are REST API v3 orders as a webhook carries them (woocommerce-rest-api-docs, wp-api-v3/_orders.md:
"Order properties" and the example order 727), each a case a store really sends: a Stripe checkout, a
partial and a full refund, a cancellation, an unpaid order, an order taken by phone with no email or phone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.stores.regions import customer_timezone
from connectors.stores.woocommerce import WooCommerceWebhookError, envelope, is_ping, parse, sign, verify
from connectors.stores.woocommerce import models as wc_models
from domain import Order
from domain.stores import OrderCancelled, OrderPlaced, OrderUpdated, StorePlatform, StoreRefund
from sandbox import RunningSandbox

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"
SECRET = "wc-webhook-secret-7Hq"
MERCHANT = "acme"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def events(name: str, topic: str = "order.created") -> list:
    return parse(topic, raw(name), MERCHANT)


def headers_for(body: bytes, topic: str = "order.created", secret: str = SECRET) -> dict[str, str]:
    """The headers WooCommerce sends with a delivery (WC_Webhook::deliver)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.9.3 Hookshot (WordPress/6.5.3)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": topic.split(".")[0],
        "X-WC-Webhook-Event": topic.split(".")[1],
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": "9d2ab1f3c0e0cbb2d5f0f6a4e0bfb4a1",
    }


def refused(call, *args, status: int = 400) -> str:
    with pytest.raises(WooCommerceWebhookError) as err:
        call(*args)
    assert err.value.status_code == status, str(err.value)
    return str(err.value)


# --- the fixtures are WooCommerce's shape --------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_each_fixture_is_a_woocommerce_order(path: Path) -> None:
    order = wc_models.Order.model_validate_json(path.read_bytes())
    assert order.id and order.status and order.date_created_gmt and order.line_items
    assert order.billing is not None and order.shipping is not None


# --- mapping --------------------------------------------------------------------------------------


def test_a_stripe_checkout_becomes_an_order_placed_with_everything_the_journey_needs() -> None:
    [placed] = events("order_created")
    assert isinstance(placed, OrderPlaced)
    order = placed.order
    assert (order.merchant_id, order.order_id, order.number) == (MERCHANT, "727", "727")
    assert order.placed_at == datetime(2026, 11, 20, 21, 28, 2, tzinfo=UTC)  # date_created_gmt, as UTC
    assert placed.updated_at == datetime(2026, 11, 20, 21, 28, 8, tzinfo=UTC)
    assert (order.currency, order.total) == ("USD", Decimal("27.35"))
    customer = order.customer
    assert (customer.id, customer.first_name, customer.last_name) == ("26", "John", "Doe")
    assert customer.email == "john.doe@example.com"
    assert customer.phone == "+15555555555"  # "(555) 555-5555" in the US, as E.164
    assert customer.timezone == "America/Los_Angeles"  # California is wholly Pacific
    assert customer.marketing_consent is False  # WooCommerce core asks for none
    address = order.shipping_address
    assert (address.name, address.line1, address.line2) == ("John Doe", "969 Market", "Apt 4")
    assert (address.city, address.region, address.postal_code, address.country) == (
        "San Francisco",
        "CA",
        "94103",
        "US",
    )
    assert [(i.id, i.sku, i.name, i.quantity, i.unit_price) for i in order.items] == [
        ("315", "wc-product-93", "Woo Single #1", 2, Decimal("3.00")),  # no SKU in the store: named by product
        ("316", "Bar3", "Ship Your Idea \u2013 Color: Black, Size: M Test", 1, Decimal("10.00")),  # &ndash; read
    ]
    assert order.payment is not None
    assert (order.payment.provider, order.payment.reference) == ("stripe", "pi_3QdLsWBxKz9SoVv81xq8Zt4C")


def test_an_order_taken_by_phone_with_no_email_and_no_phone_still_runs_a_journey() -> None:
    [placed] = events("order_created_no_contact")  # on-hold: a bank transfer the merchant accepts
    assert isinstance(placed, OrderPlaced)
    order = placed.order
    assert (order.customer.email, order.customer.phone) == (None, None)  # every message skips: no_address
    assert order.customer.id == "guest-order-812"
    assert order.customer.timezone == "Europe/Berlin"
    assert (order.currency, order.total, order.payment) == ("EUR", Decimal("34.82"), None)
    assert [(i.sku, i.unit_price) for i in order.items] == [("COFFEE-250", Decimal("27.08"))]
    assert order.shipping_address.name == "Jürgen Weiß"


def test_a_guest_with_an_email_is_the_same_customer_on_every_order() -> None:
    body = json.loads(raw("order_created"))
    body["customer_id"] = 0
    first = parse("order.created", json.dumps(body).encode(), MERCHANT)[0].order
    body |= {"id": 728, "billing": body["billing"] | {"email": "John.Doe@example.com"}}
    second = parse("order.created", json.dumps(body).encode(), MERCHANT)[0].order
    assert first.customer.id == second.customer.id and first.customer.id.startswith("guest-")
    assert "john" not in first.customer.id  # a hash, not the address


def test_a_partial_refund_is_a_store_refund_naming_no_item() -> None:
    updated, refund = events("order_updated_partial_refund", "order.updated")
    assert isinstance(updated, OrderUpdated) and updated.updated_at == datetime(2026, 11, 24, 9, 12, 40, tzinfo=UTC)
    assert refund == StoreRefund(order_id="727", refund_id="731", items={}, amount=Decimal("6.00"), currency="USD")


def test_a_full_refund_covers_every_item_on_its_latest_refund() -> None:
    updated, latest, earlier = events("order_updated_refunded", "order.updated")
    assert isinstance(updated, OrderUpdated)
    assert latest == StoreRefund(
        order_id="727", refund_id="735", items={"315": 2, "316": 1}, amount=Decimal("21.35"), currency="USD"
    )
    assert (earlier.refund_id, earlier.items, earlier.amount) == ("731", {}, Decimal("6.00"))


def test_a_cancelled_order_ends_its_journey_and_a_created_cancelled_one_starts_none() -> None:
    assert events("order_updated_cancelled", "order.updated") == [
        OrderCancelled(order_id="727", cancelled_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    ]
    assert events("order_updated_cancelled", "order.created") == []


def test_an_unpaid_order_starts_nothing_until_it_is_paid() -> None:
    assert events("order_created_pending") == []
    paid = json.loads(raw("order_created_pending")) | {"status": "processing"}
    [placed] = parse("order.updated", json.dumps(paid).encode(), MERCHANT)
    assert isinstance(placed, OrderUpdated) and placed.order.order_id == "727"  # the route starts its journey


def test_a_plugins_own_status_is_a_live_order_and_a_binned_one_tells_nothing() -> None:
    body = json.loads(raw("order_created"))
    assert isinstance(
        parse("order.updated", json.dumps(body | {"status": "shipped"}).encode(), MERCHANT)[0], OrderUpdated
    )
    assert parse("order.updated", json.dumps(body | {"status": "trash"}).encode(), MERCHANT) == []


def test_the_payment_reference_is_the_stripe_intent_and_nothing_else() -> None:
    body = json.loads(raw("order_created"))
    no_meta = body | {"meta_data": [], "transaction_id": "pi_3QdLsWBxKz9SoVv81xq8Zt4C"}
    assert parse("order.created", json.dumps(no_meta).encode(), MERCHANT)[0].order.payment.reference.startswith("pi_")
    charge_only = body | {"meta_data": []}  # the charge (ch_) cannot be refunded by our Stripe connector
    assert parse("order.created", json.dumps(charge_only).encode(), MERCHANT)[0].order.payment is None


def test_line_prices_are_rounded_to_the_currency_and_empty_lines_left_out() -> None:
    body = json.loads(raw("order_created"))
    body["line_items"][0] |= {"price": 10 / 3, "quantity": 3}  # WooCommerce divides the line total: 3.3333...
    body["line_items"][1] |= {"quantity": 0}  # edited down to nothing in the admin
    [item] = parse("order.created", json.dumps(body).encode(), MERCHANT)[0].order.items
    assert (item.id, item.quantity, item.unit_price) == ("315", 3, Decimal("3.33"))
    yen = json.loads(raw("order_created")) | {"currency": "JPY", "total": "2735"}
    yen["line_items"][0]["price"] = 300.4
    assert parse("order.created", json.dumps(yen).encode(), MERCHANT)[0].order.items[0].unit_price == Decimal("300")


def test_odd_contact_details_are_left_out_not_fatal() -> None:
    body = json.loads(raw("order_created"))
    body["billing"] |= {"email": "not an address", "phone": "call me"}
    order = parse("order.created", json.dumps(body).encode(), MERCHANT)[0].order
    assert (order.customer.email, order.customer.phone) == (None, None)


@pytest.mark.parametrize("topic", ["product.updated", "order.deleted", "customer.created", "action.woocommerce_x"])
def test_topics_we_do_not_act_on_carry_no_events(topic: str) -> None:
    assert parse(topic, b'{"id": 727}', MERCHANT) == []


@pytest.mark.parametrize(
    ("country", "state", "zone"),
    [
        ("US", "CA", "America/Los_Angeles"),
        ("US", "NY", "America/New_York"),
        ("US", "TX", None),  # El Paso keeps Mountain time: not certain
        ("US", "", None),
        ("CA", "AB", "America/Edmonton"),
        ("CA", "ON", None),
        ("AU", "VIC", "Australia/Melbourne"),
        ("DE", "", "Europe/Berlin"),
        ("FR", None, "Europe/Paris"),
        ("GB", None, "Europe/London"),
        ("ES", "M", None),  # the Canaries are an hour behind Madrid
        ("", None, None),
        ("XX", None, None),
    ],
)
def test_a_customer_timezone_only_where_the_address_names_one(
    country: str, state: str | None, zone: str | None
) -> None:
    assert customer_timezone(country, state) == zone


# --- signature, ping, envelope ---------------------------------------------------------------------


def test_a_delivery_signed_with_the_secret_is_accepted_whatever_the_header_case() -> None:
    body = raw("order_created")
    verify(body, headers_for(body), SECRET)
    verify(body, {k.lower(): v for k, v in headers_for(body).items()}, SECRET)


def test_a_missing_or_wrong_signature_is_refused_before_the_body_is_read() -> None:
    body = raw("order_created")
    good = headers_for(body)
    missing = {k: v for k, v in good.items() if k != "X-WC-Webhook-Signature"}
    assert refused(verify, body, missing, SECRET, status=401) == "missing X-WC-Webhook-Signature header"
    assert "bad signature" in refused(verify, body, headers_for(body, secret="another-secret"), SECRET, status=401)
    assert "bad signature" in refused(verify, body.replace(b"27.35", b"2.35"), good, SECRET, status=401)
    assert "bad signature" in refused(verify, b"not even json", good, SECRET, status=401)  # nothing parsed first
    assert "no WooCommerce webhook secret" in refused(verify, body, good, "", status=503)


def test_the_ping_when_a_webhook_is_saved_is_recognised_and_nothing_else_is() -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "WooCommerce/8.9.3 Hookshot"}
    assert is_ping(b"webhook_id=12", form)
    assert not is_ping(b"webhook_id=12", form | {"X-WC-Webhook-Topic": "order.created"})
    assert not is_ping(raw("order_created"), headers_for(raw("order_created")))
    assert not is_ping(b"webhook_id=12&x=1", form)


def test_the_envelope_names_the_site_the_topic_and_a_delivery_id_per_body() -> None:
    body = raw("order_created")
    delivery = envelope(headers_for(body), body)
    assert (delivery.platform, delivery.shop, delivery.topic) == (
        StorePlatform.WOOCOMMERCE,
        "shop.example.com",
        "order.created",
    )
    assert delivery.delivery_id is not None and delivery.delivery_id.startswith("9d2ab1f3c0e0cbb2d5f0f6a4e0bfb4a1.")
    assert envelope(headers_for(body), body) == delivery  # a repeat is known as one
    # WooCommerce makes its id from the webhook and the second: another order in that second is not a repeat
    other = raw("order_created_no_contact")
    assert envelope(headers_for(other), other).delivery_id != delivery.delivery_id
    in_folder = headers_for(body) | {"X-WC-Webhook-Source": "https://Example.com/store/"}
    assert envelope(in_folder, body).shop == "example.com/store"


def test_an_envelope_without_a_topic_or_a_site_is_refused_naming_the_header() -> None:
    body = raw("order_created")
    no_topic = {k: v for k, v in headers_for(body).items() if k != "X-WC-Webhook-Topic"}
    assert refused(envelope, no_topic, body) == "missing X-WC-Webhook-Topic header"
    no_site = headers_for(body) | {"X-WC-Webhook-Source": "shop.example.com"}
    assert "X-WC-Webhook-Source header is not the site's URL" in refused(envelope, no_site, body)


# --- bodies that cannot be used: a clear 400 naming the problem, never the customer's data ----------


def test_a_truncated_body_is_refused_saying_where() -> None:
    message = refused(parse, "order.created", raw("order_created")[:700], MERCHANT)
    assert message.startswith("body is not JSON (truncated or malformed at line ")
    assert "john" not in message.lower()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"id": None}, "id is missing: not a WooCommerce order"),
        ({"date_created_gmt": None}, "date_created_gmt is missing"),
        ({"date_created_gmt": "yesterday"}, "date_created_gmt is not a date-time like 2017-03-22T19:28:02"),
        ({"currency": ""}, "currency is missing"),
        ({"line_items": []}, "line_items is empty: the order has nothing in it"),
        ({"total": "lots"}, "total is not a number"),
        ({"line_items": "mug"}, "body is not a WooCommerce order: line_items: Input should be a valid list"),
        (
            {"billing": {"email": "john.doe@example.com", "country": ""}, "shipping": {"country": ""}},
            "shipping.country and billing.country are both empty: the order names no country",
        ),
        ({"total": "-5.00"}, "the order cannot be used: total: Input should be greater than or equal to 0"),
    ],
)
def test_an_order_missing_what_a_journey_needs_is_refused_naming_the_field(change: dict, expected: str) -> None:
    body = json.loads(raw("order_created")) | change
    message = refused(parse, "order.created", json.dumps(body).encode(), MERCHANT)
    assert message.startswith(expected), message
    assert "john" not in message.lower() and "969 market" not in message.lower()


def test_other_bodies_are_refused_with_their_own_message() -> None:
    assert refused(parse, "order.created", b"[1, 2]", MERCHANT) == "body is not a WooCommerce order object"
    assert refused(parse, "order.created", b"\xff\xfe{", MERCHANT) == "body is not UTF-8 text"
    legacy = json.dumps({"order": json.loads(raw("order_created"))}).encode()
    assert "Legacy REST API" in refused(parse, "order.created", legacy, MERCHANT)
    huge = b'{"id": 1, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert refused(parse, "order.created", huge, MERCHANT, status=413).startswith("body is larger than")


# --- the sandbox stand-in speaks WooCommerce: deliveries the connector accepts, over real sockets -----


async def _sink(control: httpx.AsyncClient) -> list[dict]:
    return (await control.get("/_sandbox/easypost/webhook-sink")).json()


async def test_the_sandbox_store_delivers_signed_orders_and_a_ping_the_connector_accepts(
    sandbox: RunningSandbox, control: httpx.AsyncClient
) -> None:
    sink = f"{sandbox.http_url}/_sandbox/easypost/webhook-sink"
    cfg = {"delivery_url": sink, "secret": SECRET, "site": "https://woo.example.test/"}
    assert (await control.post("/_sandbox/woocommerce/configure", json=cfg)).status_code == 200

    assert (await control.post("/_sandbox/woocommerce/ping")).json()["status_code"] == 200
    made = await control.post("/_sandbox/woocommerce/orders", json={"line_items": [{"sku": "MUG-1", "quantity": 2}]})
    assert made.status_code == 200 and made.json()["delivery"]["status_code"] == 200
    order_id = made.json()["order"]["id"]
    refund = {"refund": {"amount": "45.00", "reason": "never arrived"}}  # all of it: WooCommerce marks it refunded
    changed = await control.post(f"/_sandbox/woocommerce/orders/{order_id}", json=refund)
    assert changed.json()["order"]["status"] == "refunded"

    ping, created, updated = await _sink(control)
    assert is_ping(ping["body"].encode(), ping["headers"])

    body, headers = created["body"].encode(), created["headers"]
    assert b"\\/" in body  # written as wp_json_encode writes it
    verify(body, headers, SECRET)
    delivery = envelope(headers, body)
    assert (delivery.shop, delivery.topic) == ("woo.example.test", "order.created")
    [placed] = parse(delivery.topic, body, MERCHANT)
    assert isinstance(placed, OrderPlaced) and isinstance(placed.order, Order)
    assert placed.order.order_id == str(order_id)
    assert [(i.sku, i.quantity) for i in placed.order.items] == [("MUG-1", 2)]
    assert placed.order.customer.phone == "+12125550142" and placed.order.customer.timezone == "America/New_York"
    assert placed.order.payment is not None and placed.order.payment.reference.startswith("pi_")

    body, headers = updated["body"].encode(), updated["headers"]
    verify(body, headers, SECRET)
    assert "bad signature" in refused(verify, body, headers, "another-secret", status=401)
    update, store_refund = parse(envelope(headers, body).topic, body, MERCHANT)
    assert isinstance(update, OrderUpdated)
    assert isinstance(store_refund, StoreRefund) and store_refund.amount == Decimal("45.00")
    assert store_refund.items == {placed.order.items[0].id: 2}


async def test_the_sandbox_store_can_send_an_old_order_as_an_import_would(
    sandbox: RunningSandbox, control: httpx.AsyncClient
) -> None:
    sink = f"{sandbox.http_url}/_sandbox/easypost/webhook-sink"
    await control.post("/_sandbox/woocommerce/configure", json={"delivery_url": sink, "secret": SECRET})
    made = await control.post(
        "/_sandbox/woocommerce/orders", json={"date_created_gmt": "2026-11-01T10:00:00", "payment_method": "bacs"}
    )
    assert made.status_code == 200, made.text
    [delivery] = await _sink(control)
    body = delivery["body"].encode()
    verify(body, delivery["headers"], SECRET)
    [placed] = parse("order.created", body, MERCHANT)
    assert placed.order.placed_at == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # the journey skips what is stale
    assert placed.order.payment is None  # a bank transfer: nothing to refund through Stripe
    bad = await control.post("/_sandbox/woocommerce/orders", json={"line_items": [{"price": "lots"}]})
    assert bad.status_code == 422
