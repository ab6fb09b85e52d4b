"""The console's sign-in on the real app: a server-side session in the cookie (never the API token), revoked at
logout and with its token, rate-limited sign-in, the codec's cross-origin cookie for the Temporal Web UI only,
and the security headers on every page."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from aftercare.codec import CodecKeys, data_converter
from api.app import create_app
from api.auth import SESSION_COOKIE
from api.services import Services
from api.sessions import LoginLimiter
from domain import Role
from storage import Store

WEB_UI = "http://127.0.0.1:8233"


def services(store: Store, **extra: Any) -> Services:
    """What the console and codec need: the store, and a Temporal client stand-in carrying our codec."""
    temporal = SimpleNamespace(data_converter=data_converter(CodecKeys.parse(CodecKeys.new_entry("test-1"))))
    return Services(
        store=store, temporal=temporal, policies={}, carriers={}, task_queue="q", temporal_ui_url=WEB_UI, **extra
    )  # type: ignore[arg-type]


def browser(app: Any, base_url: str = "http://test", client: tuple[str, int] = ("10.0.0.1", 5000)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def console(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(create_app(services(store))) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    origin = str(client.base_url).rstrip("/")
    return await client.post("/console/login", data={"token": token, "next": "/console"}, headers={"Origin": origin})


def set_cookie_header(response: httpx.Response, name: str) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


async def test_sign_in_puts_a_session_in_the_cookie_never_the_token(console: httpx.AsyncClient, store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    response = await sign_in(console, token)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    header = set_cookie_header(response, SESSION_COOKIE)
    assert token not in header and token not in str(response.headers)
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert "Secure" not in header  # plain http: a Secure cookie would never come back
    assert "Max-Age=43200" in header  # the session's absolute lifetime, 12 hours by default

    page = await console.get("/console")
    assert page.status_code == 200 and "alice" in page.text


async def test_over_https_the_cookie_is_secure(store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    async with browser(create_app(services(store)), base_url="https://console.example") as client:
        response = await sign_in(client, token)
    assert "Secure" in set_cookie_header(response, SESSION_COOKIE)


async def test_sign_out_ends_the_session_on_the_server(console: httpx.AsyncClient, store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    await sign_in(console, token)
    stolen = console.cookies[SESSION_COOKIE]  # a copy of the cookie, taken before signing out
    assert (await console.get("/v1/orders/1001/actions")).status_code != 401

    out = await console.post("/console/logout", headers={"Origin": "http://test"})
    assert out.status_code == 303 and "signed_out=1" in out.headers["location"]
    assert SESSION_COOKIE not in console.cookies

    console.cookies.set(SESSION_COOKIE, stolen)
    again = await console.get("/console")
    assert again.status_code == 303 and "/console/login" in again.headers["location"]
    api = await console.get("/v1/orders/1001/actions")
    assert (api.status_code, api.json()["error"]) == (401, "session_ended")
    assert store.authenticate(token) is not None  # the token itself still works for scripts


async def test_revoking_the_token_ends_its_console_sessions(console: httpx.AsyncClient, store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    await sign_in(console, token)
    assert (await console.get("/console")).status_code == 200
    store.revoke_api_token("alice")
    response = await console.get("/console")
    assert response.status_code == 303 and "/console/login" in response.headers["location"]


async def test_sign_in_is_rate_limited_per_address_and_overall(store: Store) -> None:
    app = create_app(services(store, login_limiter=LoginLimiter(per_address=3, overall=5)))
    token = store.create_api_token("alice", Role.SUPPORT).token
    async with browser(app, client=("10.0.0.1", 1)) as first, browser(app, client=("10.0.0.2", 1)) as second:
        for _ in range(3):
            assert (await sign_in(first, "ac_sup_guess")).status_code == 401
        refused = await sign_in(first, token)  # even the right token waits: nothing is looked up
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert f"wait {refused.headers['Retry-After']} seconds" in refused.text
        assert SESSION_COOKIE not in refused.cookies

        assert (await sign_in(second, token)).status_code == 303  # another address has its own count
        assert (await sign_in(second, "ac_sup_guess")).status_code == 401
        overall = await sign_in(second, token)  # 5 attempts in the window from everyone
        assert overall.status_code == 429 and "Retry-After" in overall.headers


def test_the_limiter_lets_attempts_through_again_once_the_window_moves_on() -> None:
    now = [1000.0]
    limiter = LoginLimiter(per_address=2, overall=100, window=60, clock=lambda: now[0])
    assert limiter.attempt("a") is None
    now[0] += 30
    assert limiter.attempt("a") is None
    assert limiter.attempt("a") == 30  # the first attempt leaves the window in 30 s
    now[0] += 30
    assert limiter.attempt("a") is None
    assert limiter.attempt("b") is None
    now[0] += 1000
    limiter.attempt("c")
    assert set(limiter._by_address) == {"c"}  # addresses with nothing in the window are forgotten


async def test_codec_keeps_the_web_uis_cross_origin_cookie_and_refuses_other_origins(
    console: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(console, store.create_api_token("erin", Role.ENGINEER).token)
    empty = {"payloads": []}
    from_ui = await console.post("/codec/decode", json=empty, headers={"Origin": WEB_UI})
    assert from_ui.status_code == 200, from_ui.text
    assert from_ui.headers["Access-Control-Allow-Origin"] == WEB_UI
    assert from_ui.headers["Access-Control-Allow-Credentials"] == "true"

    elsewhere = await console.post("/codec/decode", json=empty, headers={"Origin": "https://evil.example"})
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (403, "foreign_origin")
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    preflight = await console.options("/codec/decode", headers={"Origin": "https://evil.example"})
    assert preflight.status_code == 403


async def test_every_html_page_has_a_strict_csp_and_the_security_headers(
    console: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(console, store.create_api_token("alice", Role.SUPPORT).token)
    for path in ("/console/login", "/console", "/console/orders/acme/404"):
        page = await console.get(path)
        assert page.headers["content-type"].startswith("text/html"), path
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "http" not in csp  # no CDN, no inline code
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "<script" not in page.text and "style=" not in page.text

    api = await console.get("/v1/orders/1001/actions")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in api.headers  # JSON is not a page


async def test_a_page_with_an_inline_script_gets_exactly_that_script_allowed(console: httpx.AsyncClient) -> None:
    docs = await console.get("/docs")
    csp = docs.headers["Content-Security-Policy"]
    inline = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert inline, "the docs page runs its set-up inline"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp
