"""The real API app (create_app) on a SQLite store, the bundled policies and the configured carriers, with a
stand-in for Temporal that records what it was asked: enough to test intake without a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI

from api.app import create_app
from api.limits import DEFAULT_MAX_BODY_BYTES
from api.services import Services
from connectors.carriers import build_carriers
from domain import Role
from policies.loader import BUNDLED_DIR, load_policy_dir
from storage import Store

MERCHANT = "demo"  # a bundled policy


@dataclass
class FakeTemporal:
    """Answers like a reachable Temporal that has every journey; keeps what it was asked."""

    started: list[str] = field(default_factory=list)
    signals: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def check_health() -> None:
            return None

        self.service_client = SimpleNamespace(check_health=check_health)

    async def start_workflow(self, *_: Any, id: str, **__: Any) -> None:
        self.started.append(id)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        async def signal(name: Any, *_: Any) -> None:
            self.signals.append((workflow_id, str(name)))

        return SimpleNamespace(signal=signal)


def build(store: Store, temporal: FakeTemporal, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    services = Services(
        store=store,
        temporal=temporal,  # type: ignore[arg-type]
        policies=load_policy_dir(BUNDLED_DIR),
        carriers=build_carriers(
            "http://127.0.0.1:9", "test-key", "test-secret", aftership_base_url="http://127.0.0.1:9/aftership"
        ),
        task_queue="intake-tests",
    )
    return create_app(services, max_body_bytes=max_body_bytes)


def merchant_token(store: Store) -> dict[str, str]:
    token = store.create_api_token(f"{MERCHANT}-shop", Role.MERCHANT, merchant_id=MERCHANT).token
    return {"Authorization": f"Bearer {token}"}


def order_body(merchant_id: str, order_id: str, **fields: Any) -> dict[str, Any]:
    """The body a store posts to /v1/orders for an order placed just now; `fields` are the rest of it."""
    return {"merchant_id": merchant_id, "order_id": order_id, "placed_at": datetime.now(UTC).isoformat(), **fields}


def order_payload(order_id: str = "A-1001") -> dict[str, Any]:
    return order_body(
        MERCHANT,
        order_id,
        currency="EUR",
        total="59.85",
        customer={
            "id": "cust-1",
            "first_name": "Ada",
            "email": "ada@example.com",
            "locale": "de-CH",
            "timezone": "Europe/Zurich",
        },
        shipping_address={"country": "CH", "city": "Zürich", "line1": "Bahnhofstrasse 1"},
        items=[
            {"id": "li-1", "sku": "TEA-1", "name": "Oolong tea", "quantity": 1, "unit_price": "29.95"},
            {"id": "li-2", "sku": "TEA-2", "name": "Green tea", "quantity": 2, "unit_price": "14.95"},
        ],
        tags=["vip"],
    )
