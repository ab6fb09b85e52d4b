"""SmtpEmailSender against the sandbox's aiosmtpd sink: what the customer's inbox would get."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from connectors.messaging import build_sender
from connectors.messaging.base import MessagingError, OutgoingMessage
from connectors.messaging.smtp import SmtpEmailSender, message_id_for
from domain import Channel
from sandbox import RunningSandbox


def email(**overrides: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "channel": Channel.EMAIL,
        "recipient": "ada@example.com",
        "sender": "Acme Shop <orders@acme.example>",
        "subject": "Your order #1001 is confirmed",
        "text": "Hi Ada,\nthanks for your order.\n.\nA line that starts with a dot.",
        "html": "<p>Hi Ada,</p><p>thanks for your <b>order</b>.</p>",
        "idempotency_key": "order-acme-1001:confirmation:email",
    }
    fields.update(overrides)
    return OutgoingMessage.model_validate(fields)


@pytest.fixture
def sender(sandbox: RunningSandbox) -> SmtpEmailSender:
    return SmtpEmailSender(sandbox.smtp_host, sandbox.smtp_port, timeout=2)


async def test_email_arrives_with_message_id_subject_and_both_parts(sender, sandbox, control):
    receipt = await sender.send(email())

    [got] = sandbox.state.emails
    assert receipt.provider_message_id == got.message_id == "<order-acme-1001=3Aconfirmation=3Aemail@aftercare>"
    assert got.subject == "Your order #1001 is confirmed"
    assert got.from_ == "Acme Shop <orders@acme.example>"
    assert got.to == "ada@example.com" and got.rcpt_tos == ["ada@example.com"]
    assert got.text is not None and got.text.replace("\r\n", "\n").rstrip("\n") == email().text
    assert got.html is not None and "<b>order</b>" in got.html
    assert got.headers["Content-Type"].startswith("multipart/alternative")


async def test_text_only_and_non_ascii_email(sender, sandbox, control):
    await sender.send(email(subject="Bestellung bestätigt ✓", text="Grüße aus Köln — danke!", html=None,
                            recipient="jürgen@example.com"))  # fmt: skip

    [got] = sandbox.state.emails
    assert got.subject == "Bestellung bestätigt ✓"
    assert got.text is not None and got.text.strip() == "Grüße aus Köln — danke!"
    assert got.html is None


def test_message_ids_keep_different_keys_apart():
    assert message_id_for("a:b") != message_id_for("a-b")
    assert message_id_for("shipment/1 ü") == "<shipment=2F1=20=C3=BC@aftercare>"


async def test_connection_refused_is_retryable_and_not_maybe_sent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MessagingError, match="not reachable") as caught:
        await SmtpEmailSender("127.0.0.1", port, timeout=1).send(email())
    assert caught.value.retryable is True
    assert caught.value.maybe_sent is False


async def test_a_refused_recipient_is_not_retryable(sender, sandbox, control):
    with pytest.raises(MessagingError, match=re.escape("refused recipient nobody@example.invalid: 550")) as caught:
        await sender.send(email(recipient="nobody@example.invalid"))
    assert caught.value.retryable is False
    assert caught.value.maybe_sent is False
    assert sandbox.state.emails == []


async def test_a_temporary_refusal_is_retryable(sender, sandbox, control: httpx.AsyncClient):
    await control.post("/_sandbox/smtp/fail-next", json={"stage": "rcpt", "code": 451})
    with pytest.raises(MessagingError, match="451") as caught:
        await sender.send(email())
    assert caught.value.retryable is True
    assert caught.value.maybe_sent is False
    # the relay is fine again for the retry
    await sender.send(email())
    assert len(sandbox.state.emails) == 1


async def test_a_drop_after_the_message_went_out_is_maybe_sent(sender, sandbox, control: httpx.AsyncClient):
    await control.post("/_sandbox/smtp/fail-next", json={"stage": "disconnect_after_data"})
    with pytest.raises(MessagingError, match="may have been delivered") as caught:
        await sender.send(email())
    assert caught.value.maybe_sent is True
    # and indeed it did arrive: resending blindly would send it twice
    assert [e.message_id for e in sandbox.state.emails] == [message_id_for(email().idempotency_key)]


async def test_build_sender_makes_an_smtp_sender_that_fills_in_the_from(sandbox, control):
    sender = build_sender(
        Channel.EMAIL, "smtp", "Acme <hello@acme.example>", {},
        smtp_host=sandbox.smtp_host, smtp_port=sandbox.smtp_port, twilio_base_url=sandbox.twilio_base_url,
    )  # fmt: skip
    assert isinstance(sender, SmtpEmailSender)
    await sender.send(email(sender=""))
    assert sandbox.state.emails[0].from_ == "Acme <hello@acme.example>"
