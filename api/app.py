"""The HTTP front door, assembled: the error shape, the middleware and each resource's router.

What each route does lives in api/routes/ (one module per resource) and the support console in
api/console; who may call what is declared in each route's signature (api/deps.py). Every handler
validates first and writes second, so a refused request changes nothing; nothing here lets an anonymous
caller change a journey.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api import console
from api.errors import install
from api.headers import SecurityHeaders
from api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimits
from api.routes import carriers, codec, finding, history, ops, orders, policies, providers, support
from api.routes.docs import install_docs
from api.senders import SenderMiddleware
from api.services import Services

# Each resource's routes, in the order they are matched.
RESOURCES = (orders, carriers, providers, support, console, codec, finding, history, policies, ops)


def create_app(
    services: Services | None = None, lifespan: Any = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FastAPI:
    """The app; `services` now (tests) or from a `lifespan` that sets `app.state.services` (production).
    Request bodies are bounded by api/limits.py (`max_body_bytes`: settings' AFTERCARE_MAX_BODY_BYTES)."""
    app = FastAPI(
        title="Aftercare",
        version="0.1.0",
        description="Post-purchase journeys: order intake, shipment tracking, carrier webhooks, journey state.",
        lifespan=lifespan,
        docs_url=None,  # served from our own files by api.routes.docs: the CDN one leaves /docs blank offline
        redoc_url=None,  # ReDoc fetches from its CDN whatever we do; /docs shows the same
    )
    install_docs(app)
    if services is not None:
        app.state.services = services
    install(app)
    for resource in RESOURCES:
        app.include_router(resource.router)
    app.middleware("http")(codec.codec_cors)
    # The last added runs first: headers on every answer, then bodies bounded and callers known before
    # anything is read, then who sent the request's signals.
    app.add_middleware(SenderMiddleware)  # who each request's signals are from (api.senders)
    app.add_middleware(BodyLimits, max_body_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
