"""The codec endpoint the Temporal Web UI calls: a journey's stored (encrypted) input decodes to the order
for staff, never for merchants or strangers; a payload under a key the API lacks is refused by key id; CORS
answers the Web UI's origin only."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from aftercare.codec import CodecKeys, EncryptionCodec
from domain import Role, journey_id
from tests.e2e.conftest import WEB_UI, Stack
from tests.e2e.test_journey_e2e import order_payload

pytestmark = pytest.mark.devserver


def as_json(payload: Payload) -> dict[str, Any]:
    """A payload the way the Web UI sends it: proto JSON, bytes in base64."""
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def stored_input(stack: Stack, order_id: str) -> Payload:
    """The journey's input exactly as Temporal keeps it."""
    history = await stack.env.client.get_workflow_handle(journey_id("e2e", order_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return started.input.payloads[0]


def token(stack: Stack, role: Role, merchant_id: str | None = None) -> dict[str, str]:
    made = stack.store.create_api_token(f"{role.value}-{uuid.uuid4().hex[:4]}", role, merchant_id)
    return {"Authorization": f"Bearer {made.token}"}


async def test_staff_see_the_decoded_order_others_do_not(stack: Stack) -> None:
    order_id = f"COD-{uuid.uuid4().hex[:6]}"
    payload = order_payload(order_id)
    assert (await stack.api.post("/v1/orders", json=payload)).status_code == 201
    stored = await stored_input(stack, order_id)
    email = payload["customer"]["email"]
    assert email.encode() not in stored.SerializeToString()
    body = {"payloads": [as_json(stored)]}

    url = f"{stack.api.base_url}/codec/decode"
    async with httpx.AsyncClient() as browser:
        decoded = await browser.post(url, json=body, headers=token(stack, Role.ENGINEER))
        assert decoded.status_code == 200, decoded.text
        [plain] = decoded.json()["payloads"]
        assert base64.b64decode(plain["metadata"]["encoding"]) == b"json/plain"
        journey_input = json.loads(base64.b64decode(plain["data"]))
        assert journey_input["order"]["order_id"] == order_id
        assert journey_input["order"]["customer"]["email"] == email

        assert (await browser.post(url, json=body)).status_code == 401
        merchant = await browser.post(url, json=body, headers=token(stack, Role.MERCHANT, "e2e"))
        assert merchant.status_code == 403

        # Encode then decode round-trips, under the current key.
        hello = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "IjEi"}]}
        encoded = await browser.post(
            f"{stack.api.base_url}/codec/encode", json=hello, headers=token(stack, Role.SUPPORT)
        )
        [sealed] = encoded.json()["payloads"]
        assert base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"test-2"
        again = await browser.post(url, json={"payloads": [sealed]}, headers=token(stack, Role.SUPPORT))
        assert again.json() == hello


async def test_a_payload_under_a_key_the_api_lacks_is_refused_by_key_id(stack: Stack) -> None:
    foreign = EncryptionCodec(CodecKeys.parse(CodecKeys.new_entry("other-deploy"))).encrypt(Payload(data=b"{}"))
    refused = await stack.api.post("/codec/decode", json={"payloads": [as_json(foreign)]})
    assert refused.status_code == 422 and refused.json()["error"] == "undecodable_payload"
    assert "'other-deploy'" in refused.json()["message"] and "test-2" in refused.json()["message"]
    garbage = await stack.api.post("/codec/decode", content=b"{not json")
    assert garbage.status_code == 422 and garbage.json()["error"] == "invalid_payloads"


async def test_cors_answers_the_web_ui_origin_only(stack: Stack) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    for origin in (WEB_UI, WEB_UI.replace("127.0.0.1", "localhost")):
        ok = await stack.api.options("/codec/decode", headers=preflight | {"Origin": origin})
        assert ok.status_code == 204
        assert ok.headers["Access-Control-Allow-Origin"] == origin
        assert ok.headers["Access-Control-Allow-Credentials"] == "true"
        assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    stranger = await stack.api.options("/codec/decode", headers=preflight | {"Origin": "http://evil.test"})
    assert stranger.status_code == 403 and "Access-Control-Allow-Origin" not in stranger.headers
    # The rest of the API is not opened to the Web UI's origin.
    other = await stack.api.get("/healthz", headers={"Origin": WEB_UI})
    assert "Access-Control-Allow-Origin" not in other.headers
