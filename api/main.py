"""`uvicorn api.main:app`: the API wired to the real store, Temporal and policies from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from aftercare.home import secure_home
from aftercare.logs import configure_logging
from aftercare.runtime import build_callbacks, build_carriers, open_store
from aftercare.settings import load_settings
from aftercare.temporal_client import connect
from api.app import create_app
from api.routes.policies import record_merchants
from api.services import Services
from api.sessions import LoginLimiter, SessionPolicy
from policies.loader import load_policy_dir


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = load_settings()
    secure_home(settings.home)  # the database and key files it creates are its owner's only
    policies = load_policy_dir(settings.policy_dir)
    store = open_store(settings)
    app.state.services = services = Services(
        store=store,
        temporal=await connect(settings, component="api"),
        policies=policies,
        carriers=build_carriers(settings),
        task_queue=settings.task_queue,
        temporal_ui_url=settings.temporal_ui_url,
        namespace=settings.namespace,
        codec_origins=frozenset(settings.codec_cors_origins),
        sessions=SessionPolicy(
            idle=timedelta(minutes=settings.console_session_idle_minutes),
            lifetime=timedelta(hours=settings.console_session_hours),
        ),
        login_limiter=LoginLimiter(
            per_address=settings.console_logins_per_minute, overall=settings.console_logins_overall_per_minute
        ),
        policy_dir=settings.policy_dir,
        callbacks=build_callbacks(settings),
        public_base_url=settings.public_base_url or None,
    )
    record_merchants(services, policies)
    try:
        yield
    finally:
        store.close()


_settings = load_settings()
configure_logging("api", log_format=_settings.log_format)  # redacted, uvicorn's access log included (tokens in a URL)
app = create_app(lifespan=lifespan, max_body_bytes=_settings.max_body_bytes)
