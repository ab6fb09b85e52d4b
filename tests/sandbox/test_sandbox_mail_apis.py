"""The SendGrid, Postmark and WhatsApp Cloud stand-ins speak their vendor's format: auth, success bodies,
error bodies, and what they took shows on the outbox page."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from sandbox import RunningSandbox

FIXTURES = Path(__file__).parents[1] / "connectors" / "fixtures"


def fixture(vendor: str, name: str) -> dict:
    return json.loads((FIXTURES / vendor / name).read_text())


async def test_sendgrid_answers_202_with_a_message_id_and_refuses_a_bad_key(sandbox: RunningSandbox, control):
    url = f"{sandbox.sendgrid_base_url}/v3/mail/send"
    body = fixture("sendgrid", "mail_send_request.json")
    async with httpx.AsyncClient(timeout=5) as http:
        ok = await http.post(url, json=body, headers={"Authorization": "Bearer SG.key-1"})
        bad = await http.post(url, json=body, headers={"Authorization": "Bearer not-a-key"})
        empty = await http.post(url, json={"from": {"email": "x"}}, headers={"Authorization": "Bearer SG.key-1"})
    assert ok.status_code == 202 and ok.content == b"" and ok.headers["X-Message-Id"]
    assert bad.status_code == 401
    assert bad.json() == {"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked",
                                      "field": None, "help": None}]}  # fmt: skip
    assert empty.status_code == 400
    assert [e["field"] for e in empty.json()["errors"]] == ["personalizations", "from.email", "subject", "content"]


async def test_postmark_answers_its_send_response_and_its_error_codes(sandbox: RunningSandbox, control):
    url = f"{sandbox.postmark_base_url}/email"
    body = fixture("postmark", "email_request.json")
    async with httpx.AsyncClient(timeout=5) as http:
        ok = await http.post(url, json=body, headers={"X-Postmark-Server-Token": "server-token"})
        missing = await http.post(url, json=body)
        no_body = await http.post(url, json=body | {"TextBody": "", "HtmlBody": ""},
                                  headers={"X-Postmark-Server-Token": "server-token"})  # fmt: skip
    assert ok.status_code == 200
    assert ok.json().keys() == fixture("postmark", "send_response.json").keys()
    assert (ok.json()["ErrorCode"], ok.json()["Message"], ok.json()["To"]) == (0, "OK", "ada@example.com")
    assert (missing.status_code, missing.json()["ErrorCode"]) == (401, 10)
    assert (no_body.status_code, no_body.json()["ErrorCode"]) == (422, 300)


async def test_whatsapp_answers_a_wamid_and_refuses_free_text_outside_the_window(sandbox: RunningSandbox, control):
    url = f"{sandbox.whatsapp_base_url}/v21.0/106540352242922/messages"
    body = fixture("whatsapp_cloud", "template_message_request.json")
    headers = {"Authorization": "Bearer EAAJB-token"}
    async with httpx.AsyncClient(timeout=5) as http:
        ok = await http.post(url, json=body, headers=headers)
        text = await http.post(url, json={"messaging_product": "whatsapp", "to": "+16505551234", "type": "text",
                                          "text": {"body": "hi"}}, headers=headers)  # fmt: skip
        anonymous = await http.post(url, json=body)
    assert ok.status_code == 200
    assert ok.json()["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    assert ok.json()["messages"][0]["id"].startswith("wamid.")
    assert (text.status_code, text.json()["error"]["code"]) == (400, 131047)
    assert text.json()["error"]["error_data"]["messaging_product"] == "whatsapp"
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, 190)


async def test_the_outbox_shows_what_each_api_took_and_reset_forgets_it(sandbox: RunningSandbox, control):
    async with httpx.AsyncClient(timeout=5) as http:
        await http.post(f"{sandbox.sendgrid_base_url}/v3/mail/send", json=fixture("sendgrid", "mail_send_request.json"),
                        headers={"Authorization": "Bearer SG.key-1"})  # fmt: skip
        await http.post(f"{sandbox.whatsapp_base_url}/v21.0/42/messages",
                        json=fixture("whatsapp_cloud", "template_message_request.json"),
                        headers={"Authorization": "Bearer t"})  # fmt: skip
    outbox = (await control.get("/outbox.json")).json()
    assert [e["subject"] for e in outbox["emails"]] == ["Your order 1001 is on its way"]
    assert [t["body"] for t in outbox["texts"]] == ["template order_shipped (en_US): Ada | 1001"]
    page = (await control.get("/outbox")).text
    assert "Your order 1001 is on its way" in page and "template order_shipped" in page
    health = (await control.get("/healthz")).json()
    assert health["sendgrid"].endswith("/sendgrid") and health["whatsapp"].endswith("/whatsapp")
    await control.post("/_sandbox/reset")
    assert (await control.get("/_sandbox/sendgrid/requests")).json() == {"requests": []}
