"""Every endpoint says who may call it: walked from the app itself, so a new route without a token check
fails here until it is declared public (and says why in docs/SECURITY.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Route

from api.app import create_app
from storage import Store

# (method, path) an anonymous caller may reach, and what guards it instead of a token.
PUBLIC = {
    ("GET", "/openapi.json"): "the API's description",
    ("GET", "/docs"): "the API's description",
    ("GET", "/docs/oauth2-redirect"): "the API's description",
    ("GET", "/healthz"): "up or down, naming no merchant",
    ("POST", "/v1/carriers/{carrier}/events"): "the carrier's signature",
    ("POST", "/v1/providers/{provider}/events"): "the messaging provider's signature or basic auth",
    ("GET", "/v1/providers/{provider}/events"): "WhatsApp's handshake: echoes a challenge for our verify token only",
    ("GET", "/console/static/console.css"): "a stylesheet",
    ("GET", "/console/login"): "the login form",
    ("POST", "/console/login"): "a token in the form",
    ("POST", "/console/logout"): "ends the caller's own session",
}
SAMPLE = {"order_id": "1001", "merchant_id": "acme", "carrier": "easypost", "slug": "pause"}


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    def walk(items: list[BaseRoute], prefix: str) -> Iterator[tuple[str, str]]:
        for route in items:
            context = getattr(route, "include_context", None)
            if context is not None:
                yield from walk(context.included_router.routes, prefix + context.prefix)
            elif isinstance(route, Route):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    yield method, prefix + route.path

    yield from walk(app.routes, "")


@pytest.fixture
async def anonymous(store: Store) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(SimpleNamespace(store=store, policies={}, carriers={}, temporal=None))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield app, client


async def test_every_route_but_the_declared_public_ones_needs_a_token(
    anonymous: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = anonymous
    seen = set(routes(app))
    assert ("POST", "/v1/orders/{order_id}/refunds") in seen  # the walk reaches included routers
    assert set(PUBLIC) <= seen, f"declared public but gone: {set(PUBLIC) - seen}"
    for method, path in sorted(seen - set(PUBLIC)):
        url = re.sub(r"{(\w+)(:\w+)?}", lambda m: SAMPLE.get(m.group(1), "x"), path)
        response = await client.request(method, url, json={}, follow_redirects=False)
        if path.startswith("/console"):  # pages send a person to the login form instead
            assert response.status_code in (303, 307) and "/console/login" in response.headers["location"], (
                method,
                path,
                response.status_code,
            )
        else:
            assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
