"""The sandbox's HTTP side: EasyPost, Shippo, 17TRACK, Twilio, Stripe, WooCommerce and Shopify stand-ins, the
outbox and the controls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from sandbox import (
    aftership,
    delivery_callbacks,
    easypost,
    outbox,
    postmark,
    sendgrid,
    seventeentrack,
    shippo,
    shopify,
    stripe,
    twilio,
    whatsapp_cloud,
    woocommerce,
)
from sandbox.state import SandboxState


class SmtpFailNext(BaseModel):
    """The next SMTP transaction fails at `stage`: a reply code there, or a drop after DATA."""

    stage: Literal["rcpt", "data", "disconnect_after_data"] = "rcpt"
    code: int = Field(default=451, ge=400, le=599)
    message: str = "4.3.0 Sandbox failure requested by fail-next"


def create_app(state: SandboxState) -> FastAPI:
    """One FastAPI app over `state`; webhooks go out through a client the app opens and closes."""
    client = httpx.AsyncClient()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for task in list(state.tasks):
                task.cancel()
            await client.aclose()

    app = FastAPI(
        title="Aftercare sandbox",
        description="Stand-ins for EasyPost, AfterShip, Shippo, 17TRACK, WooCommerce, Twilio, Stripe, SendGrid, "
        "Postmark, WhatsApp Cloud and an SMTP relay, each speaking the vendor's format.",
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.include_router(easypost.build_router(state, client))
    app.include_router(aftership.build_router(state, client))
    app.include_router(shippo.build_router(state, client))
    app.include_router(seventeentrack.build_router(state, client))
    app.include_router(twilio.build_router(state, client))
    app.include_router(stripe.build_router(state))
    app.include_router(woocommerce.build_router(state, client))
    app.include_router(sendgrid.build_router(state, client))
    app.include_router(postmark.build_router(state, client))
    app.include_router(whatsapp_cloud.build_router(state, client))
    app.include_router(delivery_callbacks.build_router(state))
    app.include_router(shopify.build_router(state, client))
    app.include_router(outbox.build_router(state))

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/outbox")

    @app.get("/healthz", tags=["sandbox"])
    async def healthz() -> JSONResponse:
        return JSONResponse(
            {
                "ok": True,
                "easypost": f"{state.http_url}/easypost",
                "aftership": f"{state.http_url}/aftership",
                "shippo": f"{state.http_url}/shippo",
                "17track": f"{state.http_url}/17track",
                "twilio": f"{state.http_url}/twilio",
                "stripe": f"{state.http_url}/stripe",
                "woocommerce": f"{state.http_url}/_sandbox/woocommerce",
                "sendgrid": f"{state.http_url}/sendgrid",
                "postmark": f"{state.http_url}/postmark",
                "whatsapp": f"{state.http_url}/whatsapp",
                "smtp": f"{state.smtp_host}:{state.smtp_port}",
                "webhook_url": state.webhook_url,
                "shopify_webhook_url": shopify.webhook_url(state),
            }
        )

    @app.post("/_sandbox/smtp/fail-next", tags=["sandbox"])
    async def smtp_fail_next(body: SmtpFailNext) -> JSONResponse:
        with state.lock:
            state.smtp_fail_next.append(body.model_dump())
            queued = list(state.smtp_fail_next)
        return JSONResponse({"queued": queued})

    @app.post("/_sandbox/reset", tags=["sandbox"])
    async def reset() -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    return app
