"""SendGridSender against the sandbox's SendGrid over real sockets: what SendGrid received, and the errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest

from connectors.messaging import build_sender
from connectors.messaging.base import MessagingError
from connectors.messaging.sendgrid import STATUS, SendGridSender, mail_send, refusal_for
from connectors.messaging.sendgrid.error import sendgrid_error
from connectors.messaging.sendgrid.models import ErrorResponse, MailSend
from connectors.messaging.sendgrid.units import RECIPIENT_REFUSAL
from domain import Channel
from sandbox import RunningSandbox
from tests.connectors.callback_fixtures import doc
from tests.connectors.sender_kit import fail_next, messaging_error, revoke_key, sandbox_requests, shipped_email

KEY = "SG.acme-test-key-1111"


fixture = partial(doc, "sendgrid")


email = shipped_email


@pytest.fixture
async def sender(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[SendGridSender]:
    yield SendGridSender(sandbox.sendgrid_base_url, KEY, http=http, timeout=2)


requests = partial(sandbox_requests, vendor="sendgrid")


def test_fixtures_are_sendgrids_shapes() -> None:
    MailSend.model_validate(fixture("mail_send_request.json"))
    for name in ("error_invalid_recipient.json", "error_unauthorized.json", "error_forbidden_sender.json"):
        assert ErrorResponse.model_validate(fixture(name)).errors[0].message


def test_the_mapper_writes_the_published_request_body() -> None:
    assert mail_send(email(), "Acme Coffee <orders@acme.example>") == fixture("mail_send_request.json")


async def test_sendgrid_receives_the_message_and_we_record_its_message_id(sender, sandbox, control):
    receipt = await sender.send(email())

    [got] = await requests(control)
    assert got["body"] == fixture("mail_send_request.json")  # exactly the published shape, nothing more
    assert got["credential"] == "…1111"
    assert receipt.provider_message_id == got["message_id"]
    [shown] = sandbox.state.emails  # the outbox page shows it
    assert (shown.to, shown.subject, shown.message_id) == ("ada@example.com", "Your order 1001 is on its way",
                                                            receipt.provider_message_id)  # fmt: skip


async def test_text_only_mail_carries_one_text_part(sender, control):
    with pytest.raises(MessagingError, match="no From address"):
        await sender.send(email(sender=""))
    default = SendGridSender(sender.base_url, KEY, default_sender="orders@acme.example")
    await default.send(email(html=None, sender=""))  # no From on the message: the default applies
    await default.aclose()
    [got] = await requests(control)
    assert got["body"]["content"] == [{"type": "text/plain", "value": "Hi Ada, your order 1001 shipped."}]
    assert got["body"]["from"] == {"email": "orders@acme.example"}


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_outages_are_retryable_and_nothing_was_sent(sender, sandbox, control, status):
    await fail_next(control, "sendgrid", status_code=status)
    err = await messaging_error(sender.send(email()), f"HTTP {status}")
    assert (err.retryable, err.maybe_sent, err.recipient_fault) == (True, False, False)
    assert sandbox.state.emails == []
    await sender.send(email())  # the retry goes through once
    assert len(await requests(control)) == 1


async def test_a_refused_recipient_is_skipped_and_suppressed(sender, control):
    await control.post("/_sandbox/sendgrid/refuse", json={"recipient": "ada@example.com"})
    err = await messaging_error(
        sender.send(email()), r"personalizations\.0\.to\.0\.email: Does not contain a valid address"
    )
    assert (err.retryable, err.recipient_fault, err.suppression) == (False, True, "bounced")
    assert await requests(control) == []


async def test_a_bad_key_is_a_configuration_error(sandbox, http, control):
    await revoke_key(control, "sendgrid", KEY)
    revoked = SendGridSender(sandbox.sendgrid_base_url, KEY, http=http, timeout=2)
    err = await messaging_error(revoked.send(email()), "authorization grant is invalid")
    assert (err.retryable, err.recipient_fault) == (False, False)
    assert "check the SendGrid API key" in str(err) and KEY not in str(err)


async def test_a_wrong_base_url_says_so(sandbox, http):
    wrong = SendGridSender(f"{sandbox.http_url}/nowhere", KEY, http=http, timeout=2)
    err = await messaging_error(wrong.send(email()), r"base URL .*/nowhere looks wrong")
    assert err.retryable is False


async def test_an_unreachable_sendgrid_is_retryable_and_was_not_sent(http):
    gone = SendGridSender("http://127.0.0.1:9", KEY, http=http, timeout=1)
    err = await messaging_error(gone.send(email()), "unreachable")
    assert (err.retryable, err.maybe_sent) == (True, False)


async def test_an_answer_that_comes_too_late_may_have_been_sent(sandbox, http, control):
    await fail_next(control, "sendgrid", status_code=202, delay_seconds=1.5)
    impatient = SendGridSender(sandbox.sendgrid_base_url, KEY, http=http, timeout=0.5)
    err = await messaging_error(impatient.send(email()), "may have gone out")
    assert (err.retryable, err.maybe_sent) == (True, True)


@pytest.mark.parametrize(
    ("name", "status", "kind", "words"),
    [
        ("error_invalid_recipient.json", 400, "recipient", "Does not contain a valid address"),
        ("error_unauthorized.json", 401, "configuration", "check the SendGrid API key"),
        ("error_forbidden_sender.json", 403, "configuration", "verified Sender Identity"),
        ("error_rate_limit.json", 429, "retry", "too many requests"),
    ],
)
def test_error_fixtures_map_to_our_outcomes(name, status, kind, words) -> None:
    err = sendgrid_error(status, fixture(name))
    assert words in str(err) and f"HTTP {status}" in str(err)
    assert err.retryable is (kind == "retry") and err.recipient_fault is (kind == "recipient")


@pytest.mark.parametrize("status", sorted(STATUS))
def test_every_status_in_the_units_table_maps(status: int) -> None:
    refusal = refusal_for(status, None)
    assert refusal is STATUS[status]
    assert (refusal.kind == "retry") is (status == 429 or status >= 500)
    assert refusal_for(400, "personalizations.0.to.0.email") is RECIPIENT_REFUSAL
    assert refusal_for(400, "from.email").kind == "configuration"


async def test_build_sender_picks_sendgrid_for_email(sandbox, control):
    from connectors.messaging import Endpoints

    built = build_sender(Channel.EMAIL, "sendgrid", "orders@acme.example", {"api_key": KEY},
                         endpoints=Endpoints(sendgrid_base_url=sandbox.sendgrid_base_url))  # fmt: skip
    assert isinstance(built, SendGridSender)
    with pytest.raises(ValueError, match="needs credentials api_key"):
        build_sender(Channel.EMAIL, "sendgrid", None, {}, endpoints=Endpoints(sendgrid_base_url="x"))
    with pytest.raises(ValueError, match="sends email, not sms"):
        build_sender(Channel.SMS, "sendgrid", None, {"api_key": KEY}, endpoints=Endpoints(sendgrid_base_url="x"))
    await built.aclose()
