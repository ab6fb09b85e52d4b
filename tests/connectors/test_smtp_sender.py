"""SmtpEmailSender against the sandbox's aiosmtpd sink: what the customer's inbox would get."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from connectors.messaging import build_sender
from connectors.messaging.base import NotCommitted, OutgoingMessage
from connectors.messaging.smtp import SmtpEmailSender, message_id_for, recipient_refusal
from domain import Channel
from sandbox import RunningSandbox
from tests.connectors.sender_kit import fail_next, messaging_error, outgoing


def email(**overrides: object) -> OutgoingMessage:
    return outgoing(
        {
            "channel": Channel.EMAIL,
            "recipient": "ada@example.com",
            "sender": "Acme Shop <orders@acme.example>",
            "subject": "Your order #1001 is confirmed",
            "text": "Hi Ada,\nthanks for your order.\n.\nA line that starts with a dot.",
            "html": "<p>Hi Ada,</p><p>thanks for your <b>order</b>.</p>",
            "idempotency_key": "order-acme-1001:confirmation:email",
        },
        overrides,
    )


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
    err = await messaging_error(SmtpEmailSender("127.0.0.1", port, timeout=1).send(email()), "not reachable")
    assert err.retryable is True
    assert err.maybe_sent is False


async def test_a_refused_recipient_is_not_retryable_and_the_recipients_fault(sender, sandbox, control):
    err = await messaging_error(
        sender.send(email(recipient="nobody@example.invalid")),
        re.escape("refused the recipient: 550 5.1.1 <[recipient]>"),
    )
    assert "nobody@example.invalid" not in str(err)  # errors end up in logs: no address in them
    assert err.retryable is False
    assert err.maybe_sent is False
    assert err.recipient_fault is True
    assert err.suppression == "bounced"  # 550 5.1.1: the mailbox does not exist
    assert sandbox.state.emails == []


@pytest.mark.parametrize(
    ("code", "message", "recipient_fault", "suppression"),
    [
        (553, "5.1.3 Bad destination mailbox address syntax", True, "bounced"),
        (551, "5.1.6 User has moved", True, "bounced"),
        (550, "5.2.1 Mailbox disabled, not accepting messages", True, "bounced"),
        (552, "5.2.2 Mailbox full", True, None),  # the recipient's problem, but maybe not for ever
        (550, "5.7.1 Relaying denied", False, None),  # our relay will not relay for us: ours to fix
        (530, "5.7.0 Authentication required", False, None),
        (554, "5.7.1 Client host rejected: listed at a blocklist", False, None),
    ],
)
async def test_whose_fault_a_permanent_rcpt_refusal_is(
    sender, sandbox, control: httpx.AsyncClient, code, message, recipient_fault, suppression
):
    await fail_next(control, "smtp", stage="rcpt", code=code, message=message)
    err = await messaging_error(sender.send(email()), f"refused the recipient: {code}")
    assert "ada@example.com" not in str(err)
    assert err.retryable is False and err.maybe_sent is False
    assert (err.recipient_fault, err.suppression) == (recipient_fault, suppression)
    assert sandbox.state.emails == []


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (550, "Mailbox unavailable", (True, "bounced")),  # no enhanced code: the basic code decides
        (551, "User not local; please try <ada@elsewhere.example>", (True, "bounced")),
        (553, "Requested action not taken: mailbox name not allowed", (True, "bounced")),
        (550, "Relaying denied", (False, None)),  # ... unless the words say the relay refused
        (553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", (False, None)),  # qmail
        (550, "Host 10.5.1.1 said: no such user", (True, "bounced")),  # an address is no status code
        (550, "5.1.8 Sender domain does not resolve", (False, None)),  # X.1.8 is about the sender
        (552, "5.2.3 Message too big", (False, None)),
        (554, "Transaction failed", (False, None)),
        (450, "4.1.1 Mailbox busy", (False, None)),  # temporary: retried, whoever's fault
    ],
)
def test_recipient_refusal_reads_enhanced_and_basic_codes(code, text, expected):
    assert recipient_refusal(code, text) == expected


async def test_a_temporary_refusal_is_retryable(sender, sandbox, control: httpx.AsyncClient):
    await fail_next(control, "smtp", stage="rcpt", code=451)
    err = await messaging_error(sender.send(email()), "451")
    assert err.retryable is True
    assert err.maybe_sent is False
    assert err.recipient_fault is False
    # the relay is fine again for the retry
    await sender.send(email())
    assert len(sandbox.state.emails) == 1


async def test_a_drop_after_the_message_went_out_is_maybe_sent(sender, sandbox, control: httpx.AsyncClient):
    await fail_next(control, "smtp", stage="disconnect_after_data")
    err = await messaging_error(sender.send(email()), "may have been delivered")
    assert err.maybe_sent is True
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


async def test_a_refused_message_body_is_not_the_recipients_fault(sender, sandbox, control: httpx.AsyncClient):
    await fail_next(control, "smtp", stage="data", code=554, message="5.7.1 spam")
    err = await messaging_error(sender.send(email()), "refused the message: 554")
    assert (err.retryable, err.recipient_fault) == (False, False)


async def test_a_login_the_relay_cannot_take_is_a_configuration_error(sandbox, control):
    # the sandbox relay offers no AUTH: a configured username cannot log in
    with_login = SmtpEmailSender(sandbox.smtp_host, sandbox.smtp_port, username="acme", password="secret", timeout=2)
    err = await messaging_error(with_login.send(email()), r"does not support what we asked.*AUTH")
    assert (err.retryable, err.recipient_fault, err.maybe_sent) == (False, False, False)
    assert sandbox.state.emails == []


@pytest.mark.parametrize(
    ("overrides", "match", "recipient_fault"),
    [
        ({"sender": ""}, "no From address: set the policy's email sender", False),
        ({"sender": "Acme Shop"}, "the From 'Acme Shop' is not an email address", False),
        ({"channel": Channel.SMS}, "SMTP sends email, not sms", False),
        ({"recipient": "ada at example.com"}, "^the recipient is not an email address", True),
    ],
)
async def test_refused_before_connecting(sender, sandbox, control, overrides, match, recipient_fault):
    err = await messaging_error(sender.send(email(**overrides)), match)
    assert (err.retryable, err.recipient_fault) == (False, recipient_fault)
    assert err.suppression is None  # only a provider's word suppresses an address
    assert sandbox.state.emails == []


async def test_a_commit_refused_before_data_sends_nothing(sender, sandbox, control):
    """The outbox says no at the point of no return (another attempt owns the message): the sink gets nothing."""
    asked: list[bool] = []

    def refuse() -> bool:
        asked.append(True)
        return False

    with pytest.raises(NotCommitted):
        await sender.send_committed(email(), refuse)
    assert asked == [True] and sandbox.state.emails == []

    await sender.send_committed(email(), lambda: True)  # the same connection path, allowed: sent once
    assert len(sandbox.state.emails) == 1
