"""A send an attempt left 'sending' (the worker died during the provider call) is settled by asking the provider,
through the real connectors and the sandbox's Twilio and Postmark over real sockets; SMTP, which cannot be asked,
by whether the attempt got as far as the end of DATA.

The first attempt runs with a sender that dies (an exception that is no MessagingError, as a killed worker
leaves the row) either after the provider took the message or before the request went out; the retry runs with
the worker's real senders, as a restarted worker would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import MAYBE_SENT, NEVER_HANDED_OVER, UNCONFIRMED_INTERRUPTED, MessagingActivities
from activities.senders import SenderBook
from activities.templates import TemplateRenderer
from connectors.messaging import MessageSender
from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from connectors.messaging.smtp import SmtpEmailSender, message_id_for
from domain import Channel, MessageOutcome, MessageRequest, MessageStatus, Step
from sandbox import RunningSandbox
from storage import AWAITING_HANDOVER, OutboxStatus, Store
from tests.activities.conftest import MakeRequest

PHONE, SHOP_NUMBER = "+15555550123", "+15555550100"
ENVIRON = {"ACME_POSTMARK_TOKEN": "acme-postmark-token-1234"}
DEFAULT_CREDENTIALS = {"twilio": {"account_sid": "ACsettle0000000000000000000000000", "auth_token": "settle-token"},
                   "sendgrid": {"api_key": "SG.settle-key"}}  # fmt: skip


class Died(Exception):
    """What a worker killed mid-call looks like to the outbox: no answer was recorded."""


class DyingSender:
    """A real connector in a worker that dies around the provider call: `after` the provider took the message
    (the confirmation is lost) or before the request went out."""

    def __init__(self, real: MessageSender, *, after: bool) -> None:
        self.channel, self.provider, self._real, self._after = real.channel, real.provider, real, after

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if self._after:
            await self._real.send(message)
        raise Died("worker killed during the provider call")


def worker(store: Store, renderer: TemplateRenderer, build: Any, *, dies: str | None = None) -> MessagingActivities:
    """A worker's send_message over `store`; `dies` = "after" / "before" the provider took the message."""
    make = build if dies is None else (lambda *a: DyingSender(build(*a), after=dies == "after"))
    return MessagingActivities(
        store, SenderBook({}, make, default_credentials=DEFAULT_CREDENTIALS, environ=ENVIRON), renderer
    )


async def run(messaging: MessagingActivities, req: MessageRequest) -> MessageOutcome:
    return await ActivityEnvironment().run(messaging.send_message, req)


async def interrupted(store: Store, renderer: TemplateRenderer, build: Any, req: MessageRequest, dies: str) -> None:
    with pytest.raises(Died):
        await run(worker(store, renderer, build, dies=dies), req)
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.status is OutboxStatus.SENDING


def sms(make_request: MakeRequest, step: Step = Step.SHIPPED, **kw: Any) -> MessageRequest:
    fields: dict[str, Any] = {"step": step, "channel": Channel.SMS, "recipient": PHONE, "sender": SHOP_NUMBER,
                              "provider": "twilio", "resend_unconfirmed": not step.is_marketing}  # fmt: skip
    return make_request(f"acme-1001:{step.value}:sms", **(fields | kw))


def email(make_request: MakeRequest, provider: str = "postmark", **kw: Any) -> MessageRequest:
    env = {"server_token": "ACME_POSTMARK_TOKEN"} if provider == "postmark" else {}
    fields: dict[str, Any] = {"step": Step.SHIPPED, "sender": "Acme <orders@acme.example>", "provider": provider,
                              "credentials_env": env, "resend_unconfirmed": True}  # fmt: skip
    return make_request("acme-1001:shipped:email", **(fields | kw))


def texts(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    return [t for t in sandbox.state.texts if t["to"] == PHONE]


async def postmark_sent(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    return (await control.get("/_sandbox/postmark/requests")).json()["requests"]


# -- Twilio: its Message list ------------------------------------------------------------------------------------


async def test_twilio_has_it_confirmed_not_sent_again(store, renderer, build, make_request, sandbox, control):
    req = sms(make_request)
    await interrupted(store, renderer, build, req, "after")
    [taken] = texts(sandbox)

    outcome = await run(worker(store, renderer, build), req)

    assert (outcome.status, outcome.provider_message_id) == (MessageStatus.SENT, taken["sid"])
    assert len(texts(sandbox)) == 1  # no second SMS
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.provider_message_id == taken["sid"]
    assert row.detail == "confirmed by Twilio's message lookup after an interrupted attempt"


async def test_twilio_never_got_it_sent_again_once(store, renderer, build, make_request, sandbox, control):
    req = sms(make_request)
    await interrupted(store, renderer, build, req, "before")
    assert texts(sandbox) == []

    outcome = await run(worker(store, renderer, build), req)
    again = await run(worker(store, renderer, build), req)  # a later retry changes nothing

    [taken] = texts(sandbox)
    assert taken["body"].startswith("Acme Coffee") or "1001" in taken["body"]
    assert (outcome.status, outcome.provider_message_id) == (MessageStatus.SENT, taken["sid"])
    assert again == outcome
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.attempts == 2
    assert row.detail == "sent again: Twilio had no record of it after an interrupted attempt"


async def test_another_message_to_the_same_number_is_not_ours(store, renderer, build, make_request, sandbox, control):
    await run(worker(store, renderer, build), sms(make_request, Step.CONFIRMATION))
    req = sms(make_request)
    await interrupted(store, renderer, build, req, "before")

    outcome = await run(worker(store, renderer, build), req)

    assert outcome.status is MessageStatus.SENT and outcome.provider_message_id
    confirmation, shipped = texts(sandbox)  # the confirmation, then the shipped SMS sent again
    assert confirmation["body"] != shipped["body"] and shipped["sid"] == outcome.provider_message_id


async def test_a_marketing_step_is_never_sent_again(store, renderer, build, make_request, sandbox, control):
    req = sms(make_request, Step.REVIEW_REQUEST, marketing=True)
    await interrupted(store, renderer, build, req, "before")

    outcome = await run(worker(store, renderer, build), req)

    assert outcome.status is MessageStatus.SENT and outcome.provider_message_id is None
    assert "not sent again (a marketing step)" in outcome.detail
    assert texts(sandbox) == []


async def test_policy_never_leaves_it_unconfirmed(store, renderer, build, make_request, sandbox, control):
    req = sms(make_request, resend_unconfirmed=False)
    await interrupted(store, renderer, build, req, "before")

    outcome = await run(worker(store, renderer, build), req)

    assert outcome.status is MessageStatus.SENT and outcome.provider_message_id is None
    assert "resend_unconfirmed is never" in outcome.detail
    assert texts(sandbox) == []


# -- Postmark: Outbound message search by our key --------------------------------------------------------------


async def test_postmark_has_it_confirmed_not_sent_again(store, renderer, build, make_request, control):
    req = email(make_request)
    await interrupted(store, renderer, build, req, "after")
    [taken] = await postmark_sent(control)

    outcome = await run(worker(store, renderer, build), req)

    assert (outcome.status, outcome.provider_message_id) == (MessageStatus.SENT, taken["message_id"])
    assert len(await postmark_sent(control)) == 1
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.detail == "confirmed by Postmark's message lookup after an interrupted attempt"


async def test_postmark_never_got_it_sent_again_once(store, renderer, build, make_request, control):
    req = email(make_request)
    await interrupted(store, renderer, build, req, "before")

    outcome = await run(worker(store, renderer, build), req)
    await run(worker(store, renderer, build), req)

    [taken] = await postmark_sent(control)
    assert taken["body"]["Metadata"] == {"aftercare_key": req.idempotency_key}
    assert outcome.provider_message_id == taken["message_id"]


async def test_a_lookup_that_fails_sends_nothing(store, renderer, build, make_request, control):
    req = email(make_request)
    await interrupted(store, renderer, build, req, "before")
    (
        await control.post("/_sandbox/postmark/revoke-key", json={"key": ENVIRON["ACME_POSTMARK_TOKEN"]})
    ).raise_for_status()

    outcome = await run(worker(store, renderer, build), req)

    assert outcome.status is MessageStatus.SENT and outcome.provider_message_id is None
    assert "Postmark's message lookup could not tell" in outcome.detail
    assert ENVIRON["ACME_POSTMARK_TOKEN"] not in outcome.detail
    assert await postmark_sent(control) == []


async def test_a_provider_without_lookup_stays_unconfirmed(store, renderer, build, make_request, control):
    req = email(make_request, provider="sendgrid")
    await interrupted(store, renderer, build, req, "before")

    outcome = await run(worker(store, renderer, build), req)

    assert outcome.status is MessageStatus.SENT and outcome.provider_message_id is None
    assert outcome.detail.startswith("unconfirmed: previous attempt was interrupted")
    assert (await control.get("/_sandbox/sendgrid/requests")).json()["requests"] == []


# -- SMTP: no lookup, but a late point of no return (DATA) -------------------------------------------------------


class DyingSmtp:
    """The real SMTP connector in a worker killed around the end of DATA: `after` it was handed over (the sink has the
    message, the answer is lost), or before (waiting for a thread, connecting, at MAIL/RCPT)."""

    def __init__(self, real: SmtpEmailSender, *, after: bool) -> None:
        self.channel, self.provider, self._real, self._after = real.channel, real.provider, real, after

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        raise AssertionError("a late-committing sender is called through send_committed")

    async def send_committed(self, message: OutgoingMessage, commit: Callable[[], bool]) -> SendReceipt:
        if self._after:
            await self._real.send_committed(message, commit)
        raise Died("worker killed during the SMTP conversation")


def smtp_worker(
    store: Store, renderer: TemplateRenderer, sandbox: RunningSandbox, dies: str | None = None
) -> MessagingActivities:
    real = SmtpEmailSender(sandbox.smtp_host, sandbox.smtp_port, timeout=2)
    sender: MessageSender = real if dies is None else DyingSmtp(real, after=dies == "after")
    return MessagingActivities(store, {Channel.EMAIL: sender}, renderer)


async def test_an_email_killed_before_data_is_sent_by_the_retry_once(store, renderer, make_request, sandbox, control):
    """A worker SIGKILLed while its email waited for a thread or the SMTP greeting: the sink never had it, so the
    retry sends it (it used to be recorded as sent-unconfirmed and never sent: the customer got nothing)."""
    req = make_request("acme-1001:delivered:email", step=Step.DELIVERED, sender="Acme <orders@acme.example>")
    with pytest.raises(Died):
        await run(smtp_worker(store, renderer, sandbox, dies="before"), req)
    left = store.get_message(req.idempotency_key)
    assert left is not None and (left.status, left.detail) == (OutboxStatus.SENDING, AWAITING_HANDOVER)

    outcome = await run(smtp_worker(store, renderer, sandbox), req)

    assert outcome.status is MessageStatus.SENT
    assert outcome.provider_message_id == message_id_for(req.idempotency_key)
    assert outcome.detail == NEVER_HANDED_OVER.format(provider="SMTP")
    assert [e.message_id for e in sandbox.state.emails] == [message_id_for(req.idempotency_key)]
    assert await run(smtp_worker(store, renderer, sandbox), req) == outcome  # and never again


async def test_an_email_killed_after_data_is_not_sent_again(store, renderer, make_request, sandbox, control):
    req = make_request("acme-1001:delivered:email", step=Step.DELIVERED, sender="Acme <orders@acme.example>")
    with pytest.raises(Died):
        await run(smtp_worker(store, renderer, sandbox, dies="after"), req)

    outcome = await run(smtp_worker(store, renderer, sandbox), req)

    assert (outcome.status, outcome.detail) == (MessageStatus.SENT, UNCONFIRMED_INTERRUPTED)
    assert len(sandbox.state.emails) == 1


# -- no answer from a provider that can be asked -------------------------------------------------------------------


class UnansweredSender:
    """The real connector, but its answer never arrives (a keep-alive connection the provider had closed, a
    timeout): `taken` says whether the provider got the message first."""

    def __init__(self, real: MessageSender, *, taken: bool) -> None:
        self.channel, self.provider, self._real, self._taken = real.channel, real.provider, real, taken
        self.lookup = real.lookup  # type: ignore[attr-defined]  # Twilio's: the worker asks it on the retry

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if self._taken:
            await self._real.send(message)
        raise MessagingError("Twilio did not answer after the request was sent", retryable=True, maybe_sent=True)


@pytest.mark.parametrize("taken", [False, True], ids=["never-got-it", "has-it"])
async def test_no_answer_from_twilio_is_settled_by_asking_it(
    store, renderer, build, make_request, sandbox, control, taken
):
    """Recorded as sent-unconfirmed straight away, a message Twilio never got was lost (the chaos test saw it):
    now the retry asks Twilio, and the customer gets it exactly once either way."""
    req = sms(make_request)
    book = SenderBook(
        {},
        lambda *a: UnansweredSender(build(*a), taken=taken),
        default_credentials=DEFAULT_CREDENTIALS,
        environ=ENVIRON,
    )
    unanswered = MessagingActivities(store, book, renderer)
    with pytest.raises(ApplicationError) as raised:
        await run(unanswered, req)
    assert raised.value.type == MAYBE_SENT and not raised.value.non_retryable
    left = store.get_message(req.idempotency_key)
    assert left is not None and left.status is OutboxStatus.SENDING

    outcome = await run(worker(store, renderer, build), req)

    [text] = texts(sandbox)
    assert (outcome.status, outcome.provider_message_id) == (MessageStatus.SENT, text["sid"])
