"""PostmarkSender against the sandbox's Postmark over real sockets: what Postmark received, and the errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest

from connectors.messaging import Endpoints, build_sender
from connectors.messaging.postmark import CODES, PostmarkSender, email, refusal_for
from connectors.messaging.postmark.error import postmark_error
from connectors.messaging.postmark.models import Email, SendResponse
from domain import Channel
from sandbox import RunningSandbox
from tests.connectors.callback_fixtures import doc
from tests.connectors.sender_kit import fail_next, messaging_error, revoke_key, sandbox_requests, shipped_email

TOKEN = "0a129aee-e1cd-480d-b08d-4f48548f2222"


fixture = partial(doc, "postmark")


message = shipped_email


@pytest.fixture
async def sender(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[PostmarkSender]:
    yield PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, timeout=2)


requests = partial(sandbox_requests, vendor="postmark")


def test_fixtures_are_postmarks_shapes() -> None:
    Email.model_validate(fixture("email_request.json"))
    assert SendResponse.model_validate(fixture("send_response.json")).ErrorCode == 0
    for name in ("error_inactive_recipient.json", "error_invalid_token.json", "error_sender_signature.json"):
        assert SendResponse.model_validate(fixture(name)).ErrorCode


def test_the_mapper_writes_the_published_request_body() -> None:
    assert email(message(), "Acme Coffee <orders@acme.example>") == fixture("email_request.json")


async def test_postmark_receives_the_message_and_we_record_its_message_id(sender, sandbox, control):
    receipt = await sender.send(message())

    [got] = await requests(control)
    assert got["body"] == fixture("email_request.json")
    assert got["credential"] == "…2222"
    assert receipt.provider_message_id == got["message_id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", receipt.provider_message_id)
    [shown] = sandbox.state.emails
    assert (shown.to, shown.html, shown.message_id) == ("ada@example.com", "<p>Hi Ada, your order 1001 shipped.</p>",
                                                         receipt.provider_message_id)  # fmt: skip


async def test_the_message_stream_is_the_merchants(sandbox, http, control):
    broadcasts = PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, message_stream="aftercare-transactional")
    await broadcasts.send(message(html=None))
    [got] = await requests(control)
    assert got["body"]["MessageStream"] == "aftercare-transactional" and "HtmlBody" not in got["body"]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_outages_are_retryable_and_nothing_was_sent(sender, sandbox, control, status):
    await fail_next(control, "postmark", status_code=status)
    err = await messaging_error(sender.send(message()), f"HTTP {status}")
    assert (err.retryable, err.maybe_sent, err.recipient_fault) == (True, False, False)
    assert sandbox.state.emails == []


async def test_an_inactive_recipient_is_skipped_and_suppressed(sender, control):
    await control.post("/_sandbox/postmark/refuse", json={"recipient": "ada@example.com"})
    err = await messaging_error(sender.send(message()), "Postmark error 406: You tried to send to recipient")
    assert (err.retryable, err.recipient_fault, err.suppression) == (False, True, "bounced")
    # the activity takes the address out of what it keeps and logs
    assert "ada@example.com" not in str(err.without_recipient("ada@example.com"))


async def test_an_address_postmark_cannot_parse_is_the_recipients(sender):
    err = await messaging_error(sender.send(message(recipient="not-an-address")), "Error parsing 'To'")
    assert (err.retryable, err.recipient_fault) == (False, True)


async def test_a_bad_token_is_a_configuration_error(sandbox, http, control):
    await revoke_key(control, "postmark", TOKEN)
    revoked = PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, timeout=2)
    err = await messaging_error(revoked.send(message()), "Postmark error 10: The Server Token you provided")
    assert (err.retryable, err.recipient_fault) == (False, False)
    assert TOKEN not in str(err)


async def test_a_wrong_base_url_says_so(sandbox, http):
    err = await messaging_error(
        PostmarkSender(f"{sandbox.http_url}/nowhere", TOKEN, http=http).send(message()), "looks wrong"
    )
    assert err.retryable is False


async def test_an_answer_that_comes_too_late_may_have_been_sent(sandbox, http, control):
    await fail_next(control, "postmark", status_code=200, delay_seconds=1.5)
    impatient = PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, timeout=0.5)
    err = await messaging_error(impatient.send(message()), "may have gone out")
    assert (err.retryable, err.maybe_sent) == (True, True)


@pytest.mark.parametrize(
    ("name", "status", "kind", "words"),
    [
        ("error_inactive_recipient.json", 422, "recipient", "marked as inactive"),
        ("error_invalid_token.json", 401, "configuration", "X-Postmark-Server-Token"),
        ("error_sender_signature.json", 422, "configuration", "is not a Sender Signature"),
    ],
)
def test_error_fixtures_map_to_our_outcomes(name, status, kind, words) -> None:
    err = postmark_error(status, fixture(name))
    assert words in str(err) and f"HTTP {status}" in str(err)
    assert err.retryable is (kind == "retry") and err.recipient_fault is (kind == "recipient")


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_in_the_units_table_maps(code: int) -> None:
    refusal = refusal_for(code, "")
    assert refusal is CODES[code]
    err = postmark_error(422, {"ErrorCode": code, "Message": "words"})
    assert err.retryable is (refusal.kind == "retry") and err.recipient_fault is (refusal.kind == "recipient")
    assert (err.suppression is not None) is (code == 406)


def test_unknown_codes_fall_back_on_the_http_status() -> None:
    assert postmark_error(500, {"ErrorCode": 0, "Message": "boom"}).retryable is True
    assert postmark_error(422, {"ErrorCode": 99999, "Message": "new"}).retryable is False
    assert postmark_error(502, {}).retryable is True


def test_build_sender_picks_postmark_with_its_stream() -> None:
    built = build_sender(Channel.EMAIL, "postmark", None, {"server_token": TOKEN, "message_stream": "s1"},
                         endpoints=Endpoints(postmark_base_url="http://127.0.0.1:1/postmark"))  # fmt: skip
    assert isinstance(built, PostmarkSender) and built.message_stream == "s1"
