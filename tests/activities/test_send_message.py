"""`send_message` against a real Store (SQLite) and recording fake senders."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import PROVIDER_CONFIGURATION_ERROR, UNCONFIRMED_INTERRUPTED, MessagingActivities
from activities.send_decisions import (
    ProviderFailure,
    cap_window,
    classify_provider_error,
    skip_decision,
    skip_for_recipient_fault,
)
from activities.templates import TemplateRenderer
from connectors.messaging import SmtpEmailSender, TwilioSender
from connectors.messaging.base import MessagingError
from domain import Channel, MessageOutcome, MessageRequest, MessageStatus, SkipReason, Step
from sandbox import RunningSandbox
from storage import OutboxStatus, Store, SuppressionReason
from tests.activities.conftest import T0, MakeRequest


async def send(messaging: MessagingActivities, req: MessageRequest) -> MessageOutcome:
    return await ActivityEnvironment().run(messaging.send_message, req)


def marketing(make_request: MakeRequest, key: str, at: datetime, **kw: object) -> MessageRequest:
    return make_request(
        key,
        step=Step.REVIEW_REQUEST,
        requested_at=at,
        marketing=True,
        cap_window_seconds=16 * 3600,
        cap_max=1,
        **kw,
    )


def test_send_message_is_a_named_activity_on_a_bound_method(messaging: MessagingActivities) -> None:
    definition = activity._Definition.from_callable(messaging.send_message)
    assert definition is not None and definition.name == "send_message"


async def test_sends_once_and_a_retry_sends_nothing_more(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    req = make_request()
    first = await send(messaging, req)
    assert first.status is MessageStatus.SENT
    assert first.provider_message_id == "fake-1" and first.at is not None

    (message,) = senders[Channel.EMAIL].calls
    assert message.recipient == "ada@example.com" and message.idempotency_key == req.idempotency_key
    assert message.subject == "Thanks for your order 1001!"
    assert "Blue mug" in message.text and message.html and "<html" in message.html
    assert message.sender == ""  # none in the request: the connector's default applies

    again = await send(messaging, req)
    assert again == first
    assert len(senders[Channel.EMAIL].calls) == 1

    (row,) = store.list_messages("acme", "1001")
    assert (row.status, row.attempts, row.provider_message_id) == (OutboxStatus.SENT, 1, "fake-1")


async def test_sms_is_plain_text_from_the_policys_sender(
    messaging: MessagingActivities, senders: dict, make_request: MakeRequest
) -> None:
    req = make_request("k-sms", channel=Channel.SMS, recipient="+15551234567", sender="+15550000000")
    outcome = await send(messaging, req)
    assert outcome.status is MessageStatus.SENT
    (message,) = senders[Channel.SMS].calls
    assert (message.subject, message.html, message.sender) == (None, None, "+15550000000")
    assert message.text.startswith("Acme Coffee: Thanks for your order 1001!")


async def test_capped_marketing_is_skipped_and_not_sent(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    assert (await send(messaging, marketing(make_request, "review-1", T0))).status is MessageStatus.SENT

    capped = await send(messaging, marketing(make_request, "review-2", T0 + timedelta(hours=2)))
    assert (capped.status, capped.skip_reason) == (MessageStatus.SKIPPED, SkipReason.CAPPED)
    assert "frequency cap" in capped.detail
    assert len(senders[Channel.EMAIL].calls) == 1

    # not rescheduled: asking again with the same key gives the same answer, even after the window
    again = await send(messaging, marketing(make_request, "review-2", T0 + timedelta(days=3)))
    assert again.skip_reason is SkipReason.CAPPED

    # a new message once the window (on the workflow's clock) has passed goes out
    later = await send(messaging, marketing(make_request, "review-3", T0 + timedelta(hours=17)))
    assert later.status is MessageStatus.SENT

    # other channels and transactional messages are not capped by it
    sms = await send(
        messaging,
        marketing(make_request, "review-sms", T0 + timedelta(hours=1), channel=Channel.SMS, recipient="+15551234567"),
    )
    assert sms.status is MessageStatus.SENT
    shipped = make_request(
        "shipped", step=Step.SHIPPED, requested_at=T0 + timedelta(hours=1), cap_window_seconds=86400, cap_max=0
    )
    assert (await send(messaging, shipped)).status is MessageStatus.SENT
    assert [r.status for r in store.list_messages("acme", "1001")].count(OutboxStatus.SKIPPED) == 1


async def test_no_recipient_is_no_address(
    messaging: MessagingActivities, senders: dict, make_request: MakeRequest
) -> None:
    for key, recipient in (("none", None), ("blank", "  ")):
        outcome = await send(messaging, make_request(key, recipient=recipient))
        assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.NO_ADDRESS)
    assert senders[Channel.EMAIL].calls == []


@pytest.mark.parametrize(
    ("suppression", "reason"),
    [(SuppressionReason.BOUNCED, SkipReason.SUPPRESSED), (SuppressionReason.OPTED_OUT, SkipReason.OPTED_OUT)],
)
async def test_suppressed_recipient_is_skipped(
    messaging: MessagingActivities,
    senders: dict,
    store: Store,
    make_request: MakeRequest,
    suppression: SuppressionReason,
    reason: SkipReason,
) -> None:
    store.suppress(Channel.EMAIL, "ADA@example.com", suppression)
    outcome = await send(messaging, make_request())
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, reason)
    assert senders[Channel.EMAIL].calls == []
    # the same address on another channel is not suppressed by it
    sms = await send(messaging, make_request("k-sms", channel=Channel.SMS, recipient="+15551234567"))
    assert sms.status is MessageStatus.SENT


async def test_retryable_error_raises_and_the_retry_sends_exactly_once(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    senders[Channel.EMAIL].script.append(MessagingError("421 try again later", retryable=True))
    req = make_request()
    with pytest.raises(MessagingError, match="421"):
        await send(messaging, req)
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.status is OutboxStatus.FAILED and "421" in row.detail

    outcome = await send(messaging, req)
    assert outcome.status is MessageStatus.SENT
    assert len(senders[Channel.EMAIL].delivered) == 1
    assert len(senders[Channel.EMAIL].calls) == 2

    await send(messaging, req)
    assert len(senders[Channel.EMAIL].calls) == 2
    row = store.get_message(req.idempotency_key)
    assert row is not None and (row.status, row.attempts) == (OutboxStatus.SENT, 2)


async def test_maybe_sent_is_recorded_unconfirmed_and_never_resent(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    senders[Channel.EMAIL].script.append(
        MessagingError("connection dropped after DATA", retryable=True, maybe_sent=True)
    )
    req = make_request()
    outcome = await send(messaging, req)
    assert outcome.status is MessageStatus.SENT and outcome.provider_message_id is None
    assert outcome.detail.startswith("unconfirmed:") and "connection dropped" in outcome.detail

    assert await send(messaging, req) == outcome
    assert len(senders[Channel.EMAIL].calls) == 1
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.status is OutboxStatus.SENT


async def test_an_attempt_that_died_mid_send_is_not_resent(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    req = make_request()
    store.claim_message(req)
    store.mark_sending(req.idempotency_key)  # ... and then the worker died

    outcome = await send(messaging, req)
    assert (outcome.status, outcome.detail) == (MessageStatus.SENT, UNCONFIRMED_INTERRUPTED)
    assert senders[Channel.EMAIL].calls == []
    assert await send(messaging, req) == outcome


async def test_an_unexpected_crash_in_the_connector_leaves_it_unconfirmed(
    messaging: MessagingActivities, senders: dict, make_request: MakeRequest
) -> None:
    senders[Channel.EMAIL].script.append(RuntimeError("bug in the connector"))
    req = make_request()
    with pytest.raises(RuntimeError):
        await send(messaging, req)
    outcome = await send(messaging, req)
    assert (outcome.status, outcome.detail) == (MessageStatus.SENT, UNCONFIRMED_INTERRUPTED)
    assert len(senders[Channel.EMAIL].calls) == 1


PHONE = "+15551234567"


def unsubscribed() -> MessagingError:
    return MessagingError(
        "Twilio error 21610: Attempt to send to unsubscribed recipient (HTTP 400)",
        retryable=False,
        recipient_fault=True,
        suppression="opted_out",
    )


async def test_unsubscribed_recipient_is_opted_out_and_never_asked_again(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    senders[Channel.SMS].script.append(unsubscribed())
    req = make_request("k-sms", channel=Channel.SMS, recipient=PHONE)
    outcome = await send(messaging, req)
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert "21610" in outcome.detail and "unsubscribed" in outcome.detail
    assert store.get_suppression(Channel.SMS, PHONE) is SuppressionReason.OPTED_OUT
    assert await send(messaging, req) == outcome  # a retry: the recorded skip
    assert len(senders[Channel.SMS].calls) == 1

    # the next message to that number skips before any provider call ...
    later = await send(messaging, make_request("k-sms-2", step=Step.SHIPPED, channel=Channel.SMS, recipient=PHONE))
    assert (later.status, later.skip_reason) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert len(senders[Channel.SMS].calls) == 1
    # ... while the same customer's email is not touched by it
    assert (await send(messaging, make_request("k-email"))).status is MessageStatus.SENT


async def test_hard_bounce_is_suppressed_as_bounced(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    senders[Channel.EMAIL].script.append(
        MessagingError(
            "SMTP server relay:25 refused recipient ada@example.com: 550 5.1.1 no such mailbox",
            retryable=False,
            recipient_fault=True,
            suppression="bounced",
        )
    )
    outcome = await send(messaging, make_request())
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert "550 5.1.1 no such mailbox" in outcome.detail
    assert store.get_suppression(Channel.EMAIL, "ADA@example.com") is SuppressionReason.BOUNCED

    later = await send(messaging, make_request("k-2", step=Step.SHIPPED))
    assert (later.status, later.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert "bounced" in later.detail
    assert len(senders[Channel.EMAIL].calls) == 1


async def test_recipient_fault_without_suppression_skips_only_that_message(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    senders[Channel.SMS].script.append(
        MessagingError("Twilio error 21612: not reachable from this From", retryable=False, recipient_fault=True)
    )
    outcome = await send(messaging, make_request("k-sms", channel=Channel.SMS, recipient=PHONE))
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert store.get_suppression(Channel.SMS, PHONE) is None
    later = await send(messaging, make_request("k-sms-2", step=Step.SHIPPED, channel=Channel.SMS, recipient=PHONE))
    assert later.status is MessageStatus.SENT
    assert len(senders[Channel.SMS].calls) == 2


async def test_a_lost_suppression_write_does_not_lose_the_skip(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest, monkeypatch
) -> None:
    def broken(*args: object) -> bool:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store, "suppress", broken)
    senders[Channel.SMS].script.append(unsubscribed())
    req = make_request("k-sms", channel=Channel.SMS, recipient=PHONE)
    outcome = await send(messaging, req)
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert await send(messaging, req) == outcome


@pytest.mark.parametrize(
    "error",
    [
        MessagingError(
            "SMTP server relay:587 rejected the login for 'acme': 535 5.7.8 bad credentials", retryable=False
        ),
        MessagingError("no From address: set the policy's email sender (channels.email.sender)", retryable=False),
        MessagingError("SMTP sends email, not sms: the worker wired this sender to the wrong channel", retryable=False),
    ],
    ids=["login", "no-from", "wrong-channel"],
)
async def test_a_configuration_error_fails_loudly_and_a_retry_after_the_fix_sends_once(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest, error: MessagingError
) -> None:
    senders[Channel.EMAIL].script.append(error)
    req = make_request()
    with pytest.raises(ApplicationError) as raised:
        await send(messaging, req)
    assert raised.value.type == PROVIDER_CONFIGURATION_ERROR and raised.value.non_retryable
    message = raised.value.message
    assert message.startswith("FakeProvider cannot send email messages with the current setup: ")
    assert str(error) in message and "fix the FakeProvider configuration for email" in message
    assert raised.value.details == (
        {"provider": "FakeProvider", "channel": "email", "idempotency_key": req.idempotency_key},
    )
    assert raised.value.__cause__ is error

    row = store.get_message(req.idempotency_key)
    assert row is not None and row.status is OutboxStatus.FAILED
    assert row.detail == f"provider configuration: {error}" and row.skip_reason is None
    assert senders[Channel.EMAIL].delivered == []
    assert store.get_suppression(Channel.EMAIL, "ada@example.com") is None  # the customer did nothing wrong

    # someone fixes the setup; the same key, retried, goes out once
    outcome = await send(messaging, req)
    assert outcome.status is MessageStatus.SENT
    assert await send(messaging, req) == outcome
    assert len(senders[Channel.EMAIL].delivered) == 1 and len(senders[Channel.EMAIL].calls) == 2
    row = store.get_message(req.idempotency_key)
    assert row is not None and (row.status, row.attempts, row.detail) == (OutboxStatus.SENT, 2, "")


# -- the real connectors against the sandbox ---------------------------------------------------------

SID = "AC" + "2" * 32


@pytest.fixture
def live(sandbox: RunningSandbox, store: Store, renderer: TemplateRenderer) -> tuple[MessagingActivities, dict]:
    """MessagingActivities over the real SMTP and Twilio connectors, pointed at a fresh sandbox.
    The senders dict is live: a test may swap a sender in, as a fixed configuration would."""
    sandbox.state.reset()
    senders = {
        Channel.EMAIL: SmtpEmailSender(sandbox.smtp_host, sandbox.smtp_port, timeout=2),
        Channel.SMS: TwilioSender(Channel.SMS, sandbox.twilio_base_url, SID, "token", default_sender="+15005550006"),
    }
    return MessagingActivities(store, senders, renderer), senders


async def test_twilio_opt_out_is_recorded_and_respected_without_asking_twilio(
    live: tuple[MessagingActivities, dict], sandbox: RunningSandbox, store: Store, make_request: MakeRequest
) -> None:
    messaging, _ = live
    sandbox.state.twilio_opted_out.add(PHONE)
    outcome = await send(messaging, make_request("k-sms", channel=Channel.SMS, recipient=PHONE))
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert store.get_suppression(Channel.SMS, PHONE) is SuppressionReason.OPTED_OUT

    # were Twilio asked again it would now accept: the suppression alone keeps the message back
    sandbox.state.twilio_opted_out.clear()
    later = await send(messaging, make_request("k-sms-2", step=Step.SHIPPED, channel=Channel.SMS, recipient=PHONE))
    assert (later.status, later.skip_reason) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert sandbox.state.texts == []


async def test_smtp_unknown_mailbox_is_a_bounce(
    live: tuple[MessagingActivities, dict], sandbox: RunningSandbox, store: Store, make_request: MakeRequest
) -> None:
    messaging, _ = live
    outcome = await send(messaging, make_request(recipient="nobody@example.invalid", sender="shop@acme.example"))
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert "550 5.1.1" in outcome.detail
    assert store.get_suppression(Channel.EMAIL, "nobody@example.invalid") is SuppressionReason.BOUNCED
    assert sandbox.state.emails == []


async def test_smtp_without_a_from_address_fails_as_configuration(
    live: tuple[MessagingActivities, dict], sandbox: RunningSandbox, store: Store, make_request: MakeRequest
) -> None:
    messaging, _ = live
    req = make_request()  # no sender in the policy, none configured on the connector
    with pytest.raises(ApplicationError, match=r"SMTP cannot send email messages.*no From address") as raised:
        await send(messaging, req)
    assert raised.value.type == PROVIDER_CONFIGURATION_ERROR and raised.value.non_retryable
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.status is OutboxStatus.FAILED
    assert store.get_suppression(Channel.EMAIL, "ada@example.com") is None
    assert sandbox.state.emails == []


async def test_wrong_twilio_credentials_fail_loudly_then_send_once_when_fixed(
    live: tuple[MessagingActivities, dict], sandbox: RunningSandbox, store: Store, make_request: MakeRequest
) -> None:
    messaging, senders = live
    senders[Channel.SMS] = TwilioSender(Channel.SMS, sandbox.twilio_base_url, SID, "", default_sender="+15005550006")
    req = make_request("k-sms", channel=Channel.SMS, recipient=PHONE)
    with pytest.raises(ApplicationError, match=r"Twilio cannot send sms messages.*20003.*Auth Token") as raised:
        await send(messaging, req)
    assert raised.value.type == PROVIDER_CONFIGURATION_ERROR and raised.value.non_retryable
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.status is OutboxStatus.FAILED and "20003" in row.detail
    assert store.get_suppression(Channel.SMS, PHONE) is None
    assert sandbox.state.texts == []

    senders[Channel.SMS] = TwilioSender(
        Channel.SMS, sandbox.twilio_base_url, SID, "token", default_sender="+15005550006"
    )
    outcome = await send(messaging, req)
    assert outcome.status is MessageStatus.SENT
    assert await send(messaging, req) == outcome
    [text] = sandbox.state.texts
    assert text["sid"] == outcome.provider_message_id and text["to"] == PHONE


async def test_missing_template_fails_without_retry(
    store: Store, senders: dict, make_request: MakeRequest, tmp_path: Path
) -> None:
    messaging = MessagingActivities(store, senders, TemplateRenderer(tmp_path))
    with pytest.raises(ApplicationError) as raised:
        await send(messaging, make_request())
    assert raised.value.non_retryable and raised.value.type == "TemplateError"
    assert "confirmation/email.en.j2" in str(raised.value)
    assert senders[Channel.EMAIL].calls == []


async def test_channel_without_sender_is_skipped_not_applicable(
    store: Store, renderer: TemplateRenderer, make_request: MakeRequest
) -> None:
    messaging = MessagingActivities(store, {}, renderer)
    outcome = await send(messaging, make_request())
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.NOT_APPLICABLE)


async def test_naive_requested_at_is_refused_for_good(
    messaging: MessagingActivities, make_request: MakeRequest
) -> None:
    with pytest.raises(ApplicationError, match="no timezone") as raised:
        await send(messaging, make_request(requested_at=datetime(2026, 11, 22, 12, 0)))
    assert raised.value.non_retryable


# -- the pure decisions ------------------------------------------------------------------------------


def test_cap_window_only_for_marketing_with_a_cap(make_request: MakeRequest) -> None:
    capped = make_request(step=Step.REORDER_REMINDER, cap_window_seconds=3600, cap_max=2)
    assert cap_window(capped) == (T0 - timedelta(hours=1), T0)
    assert cap_window(make_request(step=Step.SHIPPED, cap_window_seconds=3600, cap_max=2)) is None
    assert cap_window(make_request(step=Step.REORDER_REMINDER)) is None
    assert cap_window(make_request(step=Step.FOLLOW_UP, marketing=True, cap_window_seconds=60, cap_max=1)) == (
        T0 - timedelta(minutes=1),
        T0,
    )


def test_skip_decision_order(make_request: MakeRequest) -> None:
    req = make_request(step=Step.REVIEW_REQUEST, cap_window_seconds=60, cap_max=1)
    assert skip_decision(req, None, 0) is None
    assert skip_decision(req, None, 1)[0] is SkipReason.CAPPED  # type: ignore[index]
    assert skip_decision(req, SuppressionReason.OPTED_OUT, 5)[0] is SkipReason.OPTED_OUT  # type: ignore[index]
    assert skip_decision(req, SuppressionReason.BOUNCED, None)[0] is SkipReason.SUPPRESSED  # type: ignore[index]
    no_address = make_request(recipient=None)
    assert skip_decision(no_address, SuppressionReason.BOUNCED, 9)[0] is SkipReason.NO_ADDRESS  # type: ignore[index]


def test_provider_error_classes() -> None:
    assert classify_provider_error(MessagingError("x", retryable=True, maybe_sent=True)) is ProviderFailure.UNCONFIRMED
    assert classify_provider_error(MessagingError("x", retryable=False, maybe_sent=True)) is ProviderFailure.UNCONFIRMED
    assert (
        classify_provider_error(MessagingError("x", retryable=False, maybe_sent=True, recipient_fault=True))
        is ProviderFailure.UNCONFIRMED
    )
    assert (
        classify_provider_error(MessagingError("x", retryable=False, recipient_fault=True)) is ProviderFailure.RECIPIENT
    )
    assert classify_provider_error(MessagingError("x", retryable=False)) is ProviderFailure.CONFIGURATION
    assert classify_provider_error(MessagingError("x", retryable=True)) is ProviderFailure.RETRY
    # a temporary refusal is retried, whoever's fault it is (a full mailbox may empty)
    assert classify_provider_error(MessagingError("x", retryable=True, recipient_fault=True)) is ProviderFailure.RETRY


def test_recipient_fault_skip_reasons() -> None:
    def fault(suppression: str | None) -> MessagingError:
        return MessagingError("x", retryable=False, recipient_fault=True, suppression=suppression)  # type: ignore[arg-type]

    assert skip_for_recipient_fault(fault("opted_out")) == (SkipReason.OPTED_OUT, SuppressionReason.OPTED_OUT)
    assert skip_for_recipient_fault(fault("bounced")) == (SkipReason.SUPPRESSED, SuppressionReason.BOUNCED)
    assert skip_for_recipient_fault(fault(None)) == (SkipReason.SUPPRESSED, None)
    with pytest.raises(ValueError, match="only for recipient faults"):
        MessagingError("x", retryable=False, suppression="bounced")


async def test_an_erased_customers_message_is_skipped_and_the_outbox_keeps_no_address(
    messaging: MessagingActivities, senders: dict, store: Store, make_request: MakeRequest
) -> None:
    """After `aftercare customer forget`, a message the running journey still addresses goes nowhere."""
    from domain import Actor, Role
    from tests.storage.conftest import make_order

    store.record_order(make_order("1001"), {})
    first = await send(messaging, make_request("order-acme-1001:confirmation:email"))
    assert first.status is MessageStatus.SENT
    store.forget_customer("email", "ada@example.com", Actor(name="ops", role=Role.ADMIN), merchant_id="acme")

    later = await send(messaging, make_request("order-acme-1001:follow_up:email", step=Step.FOLLOW_UP))

    assert later.status is MessageStatus.SKIPPED and later.skip_reason is SkipReason.OPTED_OUT
    assert later.recipient is None and "erased" in later.detail
    assert [m.recipient for m in senders[Channel.EMAIL].calls] == ["ada@example.com"]  # the first only
    row = store.get_message("order-acme-1001:follow_up:email")
    assert row is not None and row.recipient is None
    again = await send(messaging, make_request("order-acme-1001:follow_up:email", step=Step.FOLLOW_UP))
    assert again == later  # a retry returns what was recorded
