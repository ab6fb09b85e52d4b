"""`uvicorn api.main:app`: the API wired to the real store, Temporal and policies from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aftercare.runtime import build_carriers, connect_client, open_store
from aftercare.settings import load_settings
from api.app import create_app
from api.services import Services
from policies.loader import load_policy_dir


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = load_settings()
    policies = load_policy_dir(settings.policy_dir)
    store = open_store(settings)
    for merchant_id, loaded in policies.items():
        store.upsert_merchant(merchant_id, loaded.policy.merchant.name, loaded.hash)
    app.state.services = Services(
        store=store,
        temporal=await connect_client(settings),
        policies=policies,
        carriers=build_carriers(settings),
        task_queue=settings.task_queue,
        temporal_ui_url=settings.temporal_ui_url,
        namespace=settings.namespace,
        codec_origins=frozenset(settings.codec_cors_origins),
    )
    try:
        yield
    finally:
        store.close()


app = create_app(lifespan=lifespan, max_body_bytes=load_settings().max_body_bytes)
