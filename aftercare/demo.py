"""`aftercare demo`: a handful of sample orders through the running stack, on the fast demo policy.

Each order takes a different path (on time, shipped late, split in two parcels, a carrier exception,
no marketing consent) so a newcomer sees every stage happen while messages land in the sandbox outbox.
Every order is paid through the sandbox's Stripe; once the weather-delayed parcel is delivered, support
gives a goodwill refund, which the customer hears about. Everything goes through the public HTTP API (with
the local stack's admin token) and the sandbox's own controls.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from aftercare.local_token import ensure_local_token
from aftercare.runtime import open_store
from aftercare.settings import Settings

console = Console()
MERCHANT = "demo"

# Carrier scans in EasyPost's words (gap in seconds, status, status_detail, message), played by the sandbox.
Scan = tuple[float, str, str | None, str]
Parcel = tuple[dict[str, int], list[Scan]]  # line item id -> quantity in it (empty: all), and its scans

ON_TIME: list[Scan] = [
    (5, "pre_transit", None, "Shipping label created"),
    (10, "in_transit", "arrived_at_facility", "Arrived at sort facility"),
    (20, "out_for_delivery", "out_for_delivery", "Out for delivery"),
    (20, "delivered", "arrived_at_destination", "Delivered, front door"),
]
WEATHER: list[Scan] = [
    (5, "in_transit", "arrived_at_facility", "Arrived at sort facility"),
    (10, "failure", "weather_delay", "Delayed by severe weather"),
    (30, "in_transit", "departed_facility", "Departed facility"),
    (20, "delivered", "arrived_at_destination", "Delivered, mailroom"),
]


@dataclass
class DemoOrder:
    label: str
    order_id: str
    items: list[dict[str, Any]]
    consent: bool = True
    ship_after: float = 15.0
    parcels: list[Parcel] = field(default_factory=list)
    shipped: bool = False
    goodwill: bool = False  # support refunds a little once it is delivered
    refunded: bool = False
    state: dict[str, Any] = field(default_factory=dict)


def _item(n: int, sku: str, name: str, qty: int = 1, price: str = "18.00") -> dict[str, Any]:
    return {"id": f"li-{n}", "sku": sku, "name": name, "quantity": qty, "unit_price": price}


def sample_orders(count: int) -> list[DemoOrder]:
    run = uuid.uuid4().hex[:5].upper()
    kinds: list[tuple[str, list[dict[str, Any]], bool, float, list[Parcel]]] = [
        ("on time", [_item(1, "COFFEE-HOUSE", "House blend 250g", 2)], True, 15.0, [({}, ON_TIME)]),
        ("shipped late", [_item(1, "MUG-BLUE", "Blue mug")], True, 75.0, [({}, ON_TIME)]),
        (
            "split in two parcels",
            [_item(1, "COFFEE-DECAF", "Decaf 250g"), _item(2, "FILTER-100", "Paper filters")],
            True,
            15.0,
            [({"li-1": 1}, ON_TIME), ({"li-2": 1}, [*ON_TIME[:2], (45, *ON_TIME[2][1:]), ON_TIME[3]])],
        ),
        ("weather exception", [_item(1, "KETTLE-1", "Gooseneck kettle", price="64.00")], True, 15.0, [({}, WEATHER)]),
        ("no marketing consent", [_item(1, "COFFEE-HOUSE", "House blend 250g")], False, 15.0, [({}, ON_TIME)]),
    ]
    orders = []
    for n in range(count):
        label, items, consent, ship_after, parcels = kinds[n % len(kinds)]
        demo = DemoOrder(label, f"DEMO-{run}-{n + 1}", items, consent, ship_after, parcels)
        demo.goodwill = label == "weather exception"
        orders.append(demo)
    return orders


def _total(order: DemoOrder) -> str:
    return f"{sum(float(i['unit_price']) * i['quantity'] for i in order.items):.2f}"


def _pay(stripe: httpx.Client, order: DemoOrder) -> dict[str, str]:
    """The shop's checkout: a paid PaymentIntent in the sandbox's Stripe, referenced by the order."""
    cents = str(round(float(_total(order)) * 100))
    response = stripe.post("/v1/payment_intents", data={"amount": cents, "currency": "usd", "confirm": "true"})
    response.raise_for_status()
    return {"provider": "stripe", "reference": response.json()["id"]}


def _refund_goodwill(api: httpx.Client, order: DemoOrder) -> None:
    api.post(
        f"/v1/orders/{order.order_id}/refunds",
        params={"merchant_id": MERCHANT},
        headers={"Idempotency-Key": f"demo-goodwill-{order.order_id}"},
        json={"amount": "5.00", "reason": "late", "note": "sorry about the weather delay"},
    ).raise_for_status()
    order.refunded = True


def _order_payload(order: DemoOrder, n: int, payment: dict[str, str]) -> dict[str, Any]:
    return {
        "merchant_id": MERCHANT,
        "order_id": order.order_id,
        "placed_at": datetime.now(UTC).isoformat(),
        "currency": "USD",
        "total": _total(order),
        "customer": {
            "id": f"demo-customer-{n + 1}",
            "first_name": ["Ada", "Grace", "Linus", "Barbara", "Ken"][n % 5],
            "email": f"customer{n + 1}@example.com",
            "phone": f"+1555555{n + 1:04d}",
            "marketing_consent": order.consent,
        },
        "shipping_address": {"country": "US", "city": "Springfield", "line1": f"{n + 1} Evergreen Terrace"},
        "items": order.items,
        "payment": payment,
    }


def _ship(api: httpx.Client, sandbox: httpx.Client, order: DemoOrder) -> None:
    for index, (items, scans) in enumerate(order.parcels):
        tracking = f"EZ{order.order_id.replace('-', '')}{index + 1}"
        steps = [
            {"after_seconds": gap, "status": status, "status_detail": detail, "message": message}
            for gap, status, detail, message in scans
        ]
        sandbox.post(f"/_sandbox/easypost/trackers/{tracking}/script", json={"steps": steps}).raise_for_status()
        api.post(
            f"/v1/orders/{order.order_id}/shipments",
            params={"merchant_id": MERCHANT},
            json={"carrier": "easypost", "tracking_number": tracking, "items": items},
        ).raise_for_status()
    order.shipped = True


def _table(orders: list[DemoOrder], outbox: int, elapsed: float) -> Table:
    table = Table(title=f"Aftercare demo — {elapsed:,.0f}s — {outbox} messages in the sandbox outbox")
    for column in ("order", "path", "stage", "sent", "skipped", "delays", "refunded", "next"):
        table.add_column(column)
    for o in orders:
        messages = o.state.get("messages", [])
        sent = sum(1 for m in messages if m["status"] == "sent")
        skipped = sum(1 for m in messages if m["status"] != "sent")
        delays = ", ".join(sorted({d["kind"] for d in o.state.get("delays", [])})) or "-"
        nxt = o.state.get("next_action") or {}
        refunded = o.state.get("refunded_total") or "0"
        table.add_row(
            o.order_id,
            o.label,
            o.state.get("stage", "starting"),
            str(sent),
            str(skipped),
            delays,
            "-" if float(refunded) == 0 else f"{float(refunded):.2f}",
            nxt.get("what", "-"),
        )
    return table


def run_demo(settings: Settings, *, orders: int = 5, timeout: float = 600.0) -> int:
    """Feed the orders, then show their journeys live until all complete (or `timeout` seconds pass)."""
    try:
        return _run(settings, orders, timeout)
    except httpx.HTTPStatusError as err:
        console.print(
            f"[red]{err.request.method} {err.request.url} answered {err.response.status_code}: "
            f"{err.response.text}[/red]"
        )
        return 1
    except httpx.HTTPError as err:
        console.print(f"[red]lost the stack: {err!r}[/red]")
        return 1


def _run(settings: Settings, orders: int, timeout: float) -> int:
    demo_orders = sample_orders(orders)
    started = time.monotonic()
    store = open_store(settings)
    try:
        token = ensure_local_token(settings, store)
    finally:
        store.close()
    # the shop's checkout takes payments into the demo merchant's own Stripe account: the one its policy names
    stripe_auth = {"Authorization": f"Bearer {settings.demo_stripe_secret_key}"}
    with (
        httpx.Client(base_url=settings.api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as api,
        httpx.Client(base_url=settings.sandbox_url, timeout=10) as sandbox,
        httpx.Client(base_url=settings.stripe_base_url, timeout=10, headers=stripe_auth) as stripe,
    ):
        try:
            api.get("/healthz").raise_for_status()
        except httpx.HTTPError as err:
            console.print(f"[red]the API at {settings.api_url} is not up ({err}); start it with `make run`[/red]")
            return 2
        for n, order in enumerate(demo_orders):
            api.post("/v1/orders", json=_order_payload(order, n, _pay(stripe, order))).raise_for_status()
        console.print(
            f"fed {len(demo_orders)} orders; watch {settings.sandbox_url}/outbox and {settings.temporal_ui_url}"
        )
        with Live(_table(demo_orders, 0, 0), console=console, refresh_per_second=2) as live:
            while time.monotonic() - started < timeout:
                elapsed = time.monotonic() - started
                for order in demo_orders:
                    if not order.shipped and elapsed >= order.ship_after:
                        _ship(api, sandbox, order)
                    response = api.get(f"/v1/orders/{order.order_id}", params={"merchant_id": MERCHANT})
                    if response.status_code == 200:
                        order.state = response.json()
                    if order.goodwill and not order.refunded and order.state.get("stage") == "post_delivery":
                        _refund_goodwill(api, order)
                outbox = sandbox.get("/outbox.json").json()
                count = sum(len(v) for v in outbox.values() if isinstance(v, list))
                live.update(_table(demo_orders, count, elapsed))
                if all(o.state.get("stage") == "completed" for o in demo_orders):
                    break
                time.sleep(2)
    done = sum(1 for o in demo_orders if o.state.get("stage") == "completed")
    console.print(f"{done}/{len(demo_orders)} journeys completed in {time.monotonic() - started:,.0f}s")
    return 0 if done == len(demo_orders) else 1
