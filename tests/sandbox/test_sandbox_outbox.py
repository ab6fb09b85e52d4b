"""The outbox page shows what arrived through every stand-in, newest first, safely escaped."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import httpx

from sandbox import RunningSandbox

SID = "AC" + "4" * 32


def send_email(sandbox: RunningSandbox, subject: str, html: str | None = None) -> None:
    """A plain smtplib client, so the sink is tested independently of our connector."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "shop@acme.example", "ada@example.com", subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@test>"
    msg.set_content(f"text of {subject}")
    if html:
        msg.add_alternative(html, subtype="html")
    with smtplib.SMTP(sandbox.smtp_host, sandbox.smtp_port, timeout=5) as smtp:
        smtp.send_message(msg)


async def send_text(sandbox: RunningSandbox, to: str, body: str, whatsapp: bool = False) -> None:
    prefix = "whatsapp:" if whatsapp else ""
    async with httpx.AsyncClient(base_url=sandbox.twilio_base_url, auth=(SID, "t")) as client:
        resp = await client.post(f"/2010-04-01/Accounts/{SID}/Messages.json",
                                 data={"To": prefix + to, "From": prefix + "+15005550006", "Body": body})  # fmt: skip
        resp.raise_for_status()


async def test_outbox_lists_emails_and_texts_newest_first(sandbox, control):
    send_email(sandbox, "Order confirmed", html="<p>Thanks!</p>")
    send_email(sandbox, "Your parcel shipped")
    await send_text(sandbox, "+14155550100", "Out for delivery today")
    await send_text(sandbox, "+14155550101", "Delivered!", whatsapp=True)

    page = await control.get("/outbox")

    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    html = page.text
    assert html.index("Your parcel shipped") < html.index("Order confirmed")
    assert html.index("Delivered!") < html.index("Out for delivery today")
    assert "ada@example.com" in html and "whatsapp:+14155550101" in html
    assert ">whatsapp<" in html and ">sms<" in html

    data = (await control.get("/outbox.json")).json()
    assert [e["subject"] for e in data["emails"]] == ["Your parcel shipped", "Order confirmed"]
    assert [t["channel"] for t in data["texts"]] == ["whatsapp", "sms"]
    confirmed = data["emails"][1]
    assert confirmed["message_id"] == "<Order-confirmed@test>" and confirmed["html"].strip() == "<p>Thanks!</p>"


async def test_each_email_can_be_opened_as_html_and_text(sandbox, control):
    send_email(sandbox, "Review request", html="<h1>How was it?</h1>")
    [email] = (await control.get("/outbox.json")).json()["emails"]

    detail = await control.get(f"/outbox/emails/{email['id']}")
    assert "Review request" in detail.text and "ada@example.com" in detail.text
    html = await control.get(f"/outbox/emails/{email['id']}/html")
    assert "<h1>How was it?</h1>" in html.text and html.headers["content-security-policy"] == "sandbox"
    text = await control.get(f"/outbox/emails/{email['id']}/text")
    assert text.text.strip() == "text of Review request"
    assert f'href="/outbox/emails/{email["id"]}"' in (await control.get("/outbox")).text


async def test_message_content_is_escaped_on_the_page(sandbox, control):
    await send_text(sandbox, "+14155550100", "<script>alert('x')</script>")
    html = (await control.get("/outbox")).text
    assert "<script>alert" not in html and "&lt;script&gt;" in html


async def test_delete_clears_the_outbox(sandbox, control):
    send_email(sandbox, "Something")
    await send_text(sandbox, "+14155550100", "Something else")

    assert (await control.delete("/outbox")).status_code == 200

    data = (await control.get("/outbox.json")).json()
    assert data["emails"] == [] and data["texts"] == []
    assert "No email yet" in (await control.get("/outbox")).text


async def test_healthz_reports_where_everything_listens(sandbox, control: httpx.AsyncClient):
    health = (await control.get("/healthz")).json()
    assert health["ok"] is True
    assert health["smtp"] == f"{sandbox.smtp_host}:{sandbox.smtp_port}"
    assert health["easypost"] == sandbox.easypost_base_url and health["twilio"] == sandbox.twilio_base_url
    assert health["shippo"] == sandbox.shippo_base_url and health["17track"] == sandbox.seventeentrack_base_url
