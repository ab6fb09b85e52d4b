"""Every source that pushes to us is counted under one scheme on the API's /metrics
(`aftercare_<source>_webhooks_total{<source>, outcome}`), so the on-call dashboard can show accepted against
refused for stores, carriers and messaging providers alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY

from storage import Store
from tests.api import test_provider_callbacks as providers
from tests.api import test_store_webhooks as stores
from tests.api.intake_app import FakeTemporal, build


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0


@pytest.fixture
async def app(store: Store, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SHOPIFY_DEMO_WEBHOOK_SECRET", stores.SECRET)
    transport = httpx.ASGITransport(app=build(store, FakeTemporal()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_stores_deliveries_are_counted_accepted_duplicate_and_refused(app: httpx.AsyncClient) -> None:
    name, shopify = "aftercare_store_webhooks_total", {"platform": "shopify"}
    before = {
        "accepted": counted(name, **shopify, topic="orders/create", outcome="accepted"),
        "duplicate": counted(name, **shopify, topic="orders/create", outcome="duplicate"),
        "refused": counted(name, **shopify, topic="", outcome="refused"),
    }
    body = stores.body_of("orders_create.json")
    assert (await stores.deliver(app, "orders/create", body, "wh-m1")).status_code == 200
    assert (await stores.deliver(app, "orders/create", body, "wh-m1")).status_code == 200
    assert (await stores.deliver(app, "orders/create", body, "wh-m2", secret="wrong")).status_code == 401
    assert counted(name, **shopify, topic="orders/create", outcome="accepted") == before["accepted"] + 1
    assert counted(name, **shopify, topic="orders/create", outcome="duplicate") == before["duplicate"] + 1
    assert counted(name, **shopify, topic="", outcome="refused") == before["refused"] + 1


async def test_a_carriers_unsigned_push_is_counted_refused_and_an_unknown_carrier_not_at_all(
    app: httpx.AsyncClient,
) -> None:
    name = "aftercare_carrier_webhooks_total"
    before = counted(name, carrier="easypost", outcome="refused")
    answer = await app.post("/v1/carriers/easypost/events", content=b"{}", headers={"X-Hmac-Signature": "x"})
    assert answer.status_code == 401
    assert counted(name, carrier="easypost", outcome="refused") == before + 1
    assert (await app.post("/v1/carriers/made-up/events", content=b"{}")).status_code == 404
    assert counted(name, carrier="made-up", outcome="refused") == 0  # no label value from a stranger's URL


async def test_a_providers_callbacks_are_counted_accepted_and_refused(store: Store) -> None:
    name = "aftercare_provider_webhooks_total"
    accepted = counted(name, provider="sendgrid", outcome="accepted")
    refused = counted(name, provider="sendgrid", outcome="refused")
    async with providers.callback_api(store) as api:
        body = providers.sendgrid_body(providers.sendgrid_event("delivered", 1))
        assert (await providers.post_sendgrid(api, body)).status_code == 200
        forged = await api.post("/v1/providers/sendgrid/events", content=body, headers={providers.SG_SIGNATURE: "x"})
        assert forged.status_code == 401
    assert counted(name, provider="sendgrid", outcome="accepted") == accepted + 1
    assert counted(name, provider="sendgrid", outcome="refused") == refused + 1
