"""api.auth on a tiny app: tokens from the header, console sessions from the cookie (never the token itself),
roles, merchant scope, and the same-origin rule for cookie-signed requests that change something."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from api import auth, errors
from api.auth import check_merchant, require
from api.errors import ApiError
from api.sessions import SessionPolicy
from domain import Actor, Role
from storage import Store

SupportOrMerchant = Annotated[Actor, Depends(require(Role.SUPPORT, Role.MERCHANT))]


def make_app(store: Store) -> FastAPI:
    app = FastAPI()
    app.state.services = SimpleNamespace(store=store, sessions=SessionPolicy())
    errors.install(app)

    @app.get("/console")
    async def console(actor: SupportOrMerchant) -> dict[str, str | None]:
        return {"name": actor.name, "role": actor.role.value, "merchant_id": actor.merchant_id}

    @app.get("/merchants/{merchant_id}/orders/{order_id}")
    async def order(merchant_id: str, order_id: str, actor: SupportOrMerchant) -> dict[str, str]:
        check_merchant(actor, merchant_id)
        return {"order_id": order_id, "by": actor.name}

    @app.get("/admin")
    async def admin_only(actor: Annotated[Actor, Depends(require(Role.ADMIN))]) -> dict[str, str]:
        return {"name": actor.name}

    @app.post("/merchants/{merchant_id}/orders/{order_id}/notes")
    async def note(merchant_id: str, order_id: str, actor: SupportOrMerchant) -> dict[str, str]:
        check_merchant(actor, merchant_id)
        return {"noted_by": actor.name}

    @app.post("/codec-like")
    async def codec_like(
        actor: Annotated[Actor, Depends(require(trusted_origins=lambda _: {"http://127.0.0.1:8233"}))],
    ) -> dict[str, str]:
        return {"name": actor.name}

    @app.get("/anyone")
    async def anyone(actor: Annotated[Actor, Depends(require())]) -> dict[str, str]:
        return {"role": actor.role.value}

    return app


@pytest.fixture
def tokens(store: Store) -> dict[str, str]:
    return {
        "support": store.create_api_token("alice", Role.SUPPORT).token,
        "merchant": store.create_api_token("acme-shop", Role.MERCHANT, merchant_id="acme").token,
        "engineer": store.create_api_token("erin", Role.ENGINEER).token,
        "admin": store.create_api_token("root", Role.ADMIN).token,
    }


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_forbidden(client: httpx.AsyncClient, path: str, token: str, message: str) -> None:
    """GET `path` with `token` is refused with 403, in these words."""
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "message": message}


async def test_a_valid_token_resolves_to_its_actor(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await client.get("/console", headers=bearer(tokens["support"]))
    assert response.status_code == 200
    assert response.json() == {"name": "alice", "role": "support", "merchant_id": None}


async def test_no_token_is_401_with_a_bearer_challenge_and_how_to_get_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/console")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthenticated"
    assert "send Authorization: Bearer <token>; create one with `aftercare token create`" in body["message"]
    assert "this needs a support, merchant or admin token" in body["message"]


async def test_a_header_that_is_not_bearer_is_named(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await client.get("/console", headers={"Authorization": f"Token {tokens['support']}"})
    assert response.status_code == 401
    assert "the Authorization header must read 'Bearer <token>'" in response.json()["message"]
    assert tokens["support"] not in response.text


async def test_an_unknown_token_is_401_and_never_echoed(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    forged = tokens["support"][:-4] + "AAAA"
    response = await client.get("/console", headers=bearer(forged))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["error"] == "invalid_token"
    assert "unknown or revoked" in response.json()["message"]
    assert forged not in response.text and forged[:11] not in response.text


async def test_a_revoked_token_stops_working_at_once(
    client: httpx.AsyncClient, store: Store, tokens: dict[str, str]
) -> None:
    assert (await client.get("/console", headers=bearer(tokens["support"]))).status_code == 200
    store.revoke_api_token("alice")
    response = await client.get("/console", headers=bearer(tokens["support"]))
    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["message"]


async def test_a_role_not_allowed_is_403_naming_both(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    await assert_forbidden(
        client, "/console", tokens["engineer"], "this needs a support, merchant or admin token; yours is engineer"
    )
    response = await client.get("/admin", headers=bearer(tokens["support"]))
    assert response.json()["message"] == "this needs an admin token; yours is support"


async def test_admin_passes_every_check(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    for path in ("/console", "/admin", "/anyone", "/merchants/globex/orders/1"):
        assert (await client.get(path, headers=bearer(tokens["admin"]))).status_code == 200, path


async def test_require_without_roles_takes_any_valid_token(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    for role, token in tokens.items():
        response = await client.get("/anyone", headers=bearer(token))
        assert response.json() == {"role": role}
    assert (await client.get("/anyone")).status_code == 401


def session(store: Store, token: str) -> str:
    opened = store.open_session(token, SessionPolicy().lifetime)
    assert opened is not None
    return opened.session_id


async def test_a_console_session_cookie_works_and_the_header_wins(
    client: httpx.AsyncClient, store: Store, tokens: dict[str, str]
) -> None:
    client.cookies.set(auth.SESSION_COOKIE, session(store, tokens["merchant"]))
    response = await client.get("/console")
    assert response.json()["name"] == "acme-shop"
    response = await client.get("/console", headers=bearer(tokens["support"]))
    assert response.json()["name"] == "alice"


async def test_the_api_token_itself_in_the_cookie_signs_nobody_in(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for name in (auth.SESSION_COOKIE, "aftercare_token"):  # the cookie older versions kept the token in
        client.cookies.clear()
        client.cookies.set(name, tokens["merchant"])
        response = await client.get("/console")
        assert response.status_code == 401, name
        assert tokens["merchant"] not in response.text


async def test_an_ended_session_is_401_saying_to_sign_in_again(
    client: httpx.AsyncClient, store: Store, tokens: dict[str, str]
) -> None:
    session_id = session(store, tokens["support"])
    store.close_session(session_id)
    client.cookies.set(auth.SESSION_COOKIE, session_id)
    response = await client.get("/console")
    assert response.status_code == 401
    assert response.json()["error"] == "session_ended"
    assert "sign in again at /console/login" in response.json()["message"]


async def test_a_cookie_signed_change_must_come_from_our_own_origin(
    client: httpx.AsyncClient, store: Store, tokens: dict[str, str]
) -> None:
    client.cookies.set(auth.SESSION_COOKIE, session(store, tokens["merchant"]))
    url = "/merchants/acme/orders/1001/notes"
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://test.evil.example"},
        {"Referer": "https://evil.example/page"},  # no Origin: the Referer's origin counts
        {"Sec-Fetch-Site": "cross-site"},
    ):
        refused = await client.post(url, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"] == "foreign_origin"
        assert "must come from this site's own pages" in refused.json()["message"]

    for headers in ({"Origin": "http://test"}, {"Referer": "http://test/console/orders/acme/1001"}, {}):
        assert (await client.post(url, headers=headers)).json() == {"noted_by": "acme-shop"}, headers
    # reading is not a change: a cross-origin GET with the cookie answers (CORS keeps its body from the page)
    assert (await client.get("/console", headers={"Origin": "https://evil.example"})).status_code == 200


async def test_bearer_calls_are_not_held_to_the_origin_rule(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await client.post(
        "/merchants/acme/orders/1001/notes", headers={**bearer(tokens["merchant"]), "Origin": "https://evil.example"}
    )
    assert response.json() == {"noted_by": "acme-shop"}


async def test_a_trusted_origin_may_use_the_cookie_where_a_route_allows_it(
    client: httpx.AsyncClient, store: Store, tokens: dict[str, str]
) -> None:
    client.cookies.set(auth.SESSION_COOKIE, session(store, tokens["engineer"]))
    ui = await client.post("/codec-like", headers={"Origin": "http://127.0.0.1:8233"})
    assert ui.json() == {"name": "erin"}
    other = await client.post("/codec-like", headers={"Origin": "http://127.0.0.1:9999"})
    assert (other.status_code, other.json()["error"]) == (403, "foreign_origin")
    # ...and only there
    client.cookies.set(auth.SESSION_COOKIE, session(store, tokens["support"]))
    note = await client.post("/merchants/acme/orders/1001/notes", headers={"Origin": "http://127.0.0.1:8233"})
    assert (note.status_code, note.json()["error"]) == (403, "foreign_origin")


async def test_a_merchant_token_acts_on_its_own_merchant_only(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    own = await client.get("/merchants/acme/orders/1001", headers=bearer(tokens["merchant"]))
    assert own.status_code == 200
    await assert_forbidden(
        client,
        "/merchants/globex/orders/1001",
        tokens["merchant"],
        "token 'acme-shop' acts for merchant 'acme' only, not for merchant 'globex'",
    )
    support = await client.get("/merchants/globex/orders/1001", headers=bearer(tokens["support"]))
    assert support.status_code == 200


def test_check_merchant_refuses_a_merchant_actor_without_a_merchant() -> None:
    with pytest.raises(ApiError, match="acts for no merchant"):
        check_merchant(Actor(name="odd", role=Role.MERCHANT), "acme")
    check_merchant(Actor(name="erin", role=Role.ENGINEER), "acme")  # no exception
