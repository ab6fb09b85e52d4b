"""PostmarkSender against the sandbox's Postmark over real sockets: what Postmark received, and the errors."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.messaging import Endpoints, build_sender
from connectors.messaging.base import MessagingError, OutgoingMessage
from connectors.messaging.postmark import CODES, PostmarkSender, email, refusal_for
from connectors.messaging.postmark.error import postmark_error
from connectors.messaging.postmark.models import Email, SendResponse
from domain import Channel
from sandbox import RunningSandbox

FIXTURES = Path(__file__).parent / "fixtures" / "postmark"
TOKEN = "0a129aee-e1cd-480d-b08d-4f48548f2222"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def message(**overrides: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "channel": Channel.EMAIL,
        "recipient": "ada@example.com",
        "sender": "Acme Coffee <orders@acme.example>",
        "subject": "Your order 1001 is on its way",
        "text": "Hi Ada, your order 1001 shipped.",
        "html": "<p>Hi Ada, your order 1001 shipped.</p>",
        "idempotency_key": "order~acme~1001:shipped:email",
    }
    fields.update(overrides)
    return OutgoingMessage.model_validate(fields)


@pytest.fixture
async def sender(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[PostmarkSender]:
    yield PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, timeout=2)


async def requests(control: httpx.AsyncClient) -> list[dict]:
    return (await control.get("/_sandbox/postmark/requests")).json()["requests"]


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
    await control.post("/_sandbox/postmark/fail-next", json={"status_code": status})
    with pytest.raises(MessagingError, match=f"HTTP {status}") as caught:
        await sender.send(message())
    assert (caught.value.retryable, caught.value.maybe_sent, caught.value.recipient_fault) == (True, False, False)
    assert sandbox.state.emails == []


async def test_an_inactive_recipient_is_skipped_and_suppressed(sender, control):
    await control.post("/_sandbox/postmark/refuse", json={"recipient": "ada@example.com"})
    with pytest.raises(MessagingError, match="Postmark error 406: You tried to send to recipient") as caught:
        await sender.send(message())
    assert (caught.value.retryable, caught.value.recipient_fault, caught.value.suppression) == (False, True, "bounced")
    # the activity takes the address out of what it keeps and logs
    assert "ada@example.com" not in str(caught.value.without_recipient("ada@example.com"))


async def test_an_address_postmark_cannot_parse_is_the_recipients(sender):
    with pytest.raises(MessagingError, match="Error parsing 'To'") as caught:
        await sender.send(message(recipient="not-an-address"))
    assert (caught.value.retryable, caught.value.recipient_fault) == (False, True)


async def test_a_bad_token_is_a_configuration_error(sandbox, http, control):
    await control.post("/_sandbox/postmark/revoke-key", json={"key": TOKEN})
    revoked = PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, timeout=2)
    with pytest.raises(MessagingError, match="Postmark error 10: The Server Token you provided") as caught:
        await revoked.send(message())
    assert (caught.value.retryable, caught.value.recipient_fault) == (False, False)
    assert TOKEN not in str(caught.value)


async def test_a_wrong_base_url_says_so(sandbox, http):
    with pytest.raises(MessagingError, match="looks wrong") as caught:
        await PostmarkSender(f"{sandbox.http_url}/nowhere", TOKEN, http=http).send(message())
    assert caught.value.retryable is False


async def test_an_answer_that_comes_too_late_may_have_been_sent(sandbox, http, control):
    await control.post("/_sandbox/postmark/fail-next", json={"status_code": 200, "delay_seconds": 1.5})
    impatient = PostmarkSender(sandbox.postmark_base_url, TOKEN, http=http, timeout=0.5)
    with pytest.raises(MessagingError, match="may have gone out") as caught:
        await impatient.send(message())
    assert (caught.value.retryable, caught.value.maybe_sent) == (True, True)


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
