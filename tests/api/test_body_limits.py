"""The front door reads no more than it must: a token is checked before the body, a body past the cap is
cut off with 413, and JSON nested too deep answers 400 before anything parses it. Public routes keep working.

The requests are driven at the ASGI level, so each test sees exactly how much of the body the app read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from aftercare.settings import Settings
from api.limits import DEFAULT_MAX_BODY_BYTES, JsonDepth
from storage import Store
from tests.api.intake_app import MERCHANT, FakeTemporal, build, merchant_token, order_payload

CHUNK = 64 * 1024


@pytest.fixture
def app(store: Store) -> FastAPI:
    return build(store, FakeTemporal())


@dataclass
class Exchange:
    """One request played against the app: what it answered and how many body bytes it pulled."""

    status: int = 0
    body: bytes = b""
    read: int = 0
    pulls: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


async def play(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterator[bytes],
) -> Exchange:
    """Send `chunks` as the body, as slowly as the app asks for them; stop when it stops asking."""
    seen = Exchange()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *raw],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    pending = iter(chunks)
    finished = False

    async def receive() -> dict[str, Any]:
        nonlocal finished
        seen.pulls += 1
        if finished:
            return {"type": "http.disconnect"}
        chunk = next(pending, None)
        if chunk is None:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        seen.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.status = message["status"]
            seen.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            seen.body += message.get("body", b"")

    await app(scope, receive, send)
    return seen


def body_of(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def endless(chunk: bytes = b" " * CHUNK, limit: int = 200 * 1024 * 1024) -> Iterator[bytes]:
    """A 200 MB upload, chunk by chunk (only what the app pulls is ever made)."""
    for _ in range(limit // len(chunk)):
        yield chunk


JSON = {"content-type": "application/json"}


async def test_an_anonymous_post_is_refused_before_its_body_is_read(app: FastAPI) -> None:
    payload = json.dumps(order_payload()).encode()
    seen = await play(app, "POST", "/v1/orders", JSON | {"content-length": str(len(payload))}, body_of(payload))
    assert seen.status == 401 and seen.json()["error"] == "unauthenticated"
    assert seen.headers["www-authenticate"] == "Bearer"
    assert seen.read == 0 and seen.pulls == 0


async def test_a_revoked_or_unknown_token_is_refused_before_the_body_too(app: FastAPI) -> None:
    headers = JSON | {"authorization": "Bearer not-a-token", "transfer-encoding": "chunked"}
    seen = await play(app, "POST", "/v1/orders/A-1/shipments", headers, endless())
    assert seen.status == 401 and seen.json()["error"] == "invalid_token"
    assert seen.read == 0


async def test_a_declared_length_over_the_cap_answers_413_unread(app: FastAPI, store: Store) -> None:
    headers = JSON | merchant_token(store) | {"content-length": str(200 * 1024 * 1024)}
    seen = await play(app, "POST", "/v1/orders", headers, endless())
    assert seen.status == 413 and seen.json()["error"] == "body_too_large"
    assert str(DEFAULT_MAX_BODY_BYTES) in seen.json()["message"]
    assert seen.read == 0


async def test_an_undeclared_body_is_cut_off_once_past_the_cap(app: FastAPI, store: Store) -> None:
    headers = JSON | merchant_token(store) | {"transfer-encoding": "chunked"}
    seen = await play(app, "POST", "/v1/orders", headers, endless())
    assert seen.status == 413 and seen.json()["error"] == "body_too_large"
    assert DEFAULT_MAX_BODY_BYTES < seen.read <= DEFAULT_MAX_BODY_BYTES + CHUNK  # never held more than the cap


async def test_public_routes_are_bounded_too(app: FastAPI) -> None:
    """A carrier webhook needs no token, but its body is capped like every other."""
    seen = await play(app, "POST", "/v1/carriers/easypost/events", JSON | {"transfer-encoding": "chunked"}, endless())
    assert seen.status == 413
    assert seen.read <= DEFAULT_MAX_BODY_BYTES + CHUNK


async def test_json_nested_too_deep_answers_400_before_it_is_parsed(app: FastAPI, store: Store) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    headers = JSON | merchant_token(store) | {"content-length": str(len(deep))}
    seen = await play(app, "POST", "/v1/orders", headers, body_of(deep))
    assert seen.status == 400, seen.body
    assert seen.json()["error"] == "invalid_body" and "deeper than 32 levels" in seen.json()["message"]
    assert seen.read == CHUNK  # refused on the first chunk: the rest was never read


async def test_deep_json_is_refused_on_public_routes_too(app: FastAPI) -> None:
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    seen = await play(
        app, "POST", "/v1/carriers/easypost/events", JSON | {"content-length": str(len(deep))}, body_of(deep)
    )
    assert seen.status == 400 and "deeper than 32" in seen.json()["message"]


def test_the_depth_count_ignores_brackets_in_strings_and_escapes() -> None:
    document = json.dumps({"note": "[[[[{{{{" * 20 + '\\"[[[', "x": [[[1]]]}).encode()
    depth = JsonDepth(4)
    assert all(depth.feed(document[i : i + 7]) is None for i in range(0, len(document), 7))  # split anywhere
    assert JsonDepth(3).feed(b'{"a": [[[1]]]}') is not None
    assert JsonDepth(4).feed(b'{"a": [[[1]]]}') is None
    assert "UTF-8" in (JsonDepth(32).feed("[1]".encode("utf-16-le")) or "")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_a_normal_order_still_goes_through(client: httpx.AsyncClient, store: Store) -> None:
    response = await client.post("/v1/orders", json=order_payload(), headers=merchant_token(store))
    assert response.status_code == 201, response.text
    assert store.get_order(MERCHANT, "A-1001") is not None


async def test_public_routes_keep_working(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 401  # its labels name merchants: engineers only
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/console/static/console.css")).status_code == 200
    login = await client.post("/console/login", data={"token": "wrong", "next": "/console"})
    assert login.status_code == 401 and "text/html" in login.headers["content-type"]  # the form's own answer
    forged = await client.post(
        "/v1/carriers/easypost/events",
        content=b'{"object": "Event", "result": {}}',
        headers={"content-type": "application/json", "x-hmac-signature": "hmac-sha256-hex=00"},
    )
    assert forged.status_code == 401 and "signature" in forged.json()["message"].lower()  # the webhook's own check


def test_the_cap_is_configurable(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setenv("AFTERCARE_MAX_BODY_BYTES", "4096")
    assert Settings().max_body_bytes == 4096
    monkeypatch.setenv("AFTERCARE_MAX_BODY_BYTES", "12")
    with pytest.raises(SystemExit, match="AFTERCARE_MAX_BODY_BYTES"):
        Settings()


async def test_a_smaller_configured_cap_applies(store: Store) -> None:
    app = build(store, FakeTemporal(), max_body_bytes=2048)
    payload = json.dumps(order_payload() | {"tags": ["t" * 60] * 40}).encode()
    headers = JSON | merchant_token(store) | {"content-length": str(len(payload))}
    seen = await play(app, "POST", "/v1/orders", headers, body_of(payload))
    assert seen.status == 413 and "2048" in seen.json()["message"]
    assert store.get_order(MERCHANT, "A-1001") is None
