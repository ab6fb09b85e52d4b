"""The message lookups that settle a send a crash left unconfirmed: Twilio's Message list and Postmark's Outbound
message search, read from answers in the vendors' published shape, and asked over real sockets of the sandbox."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors.messaging import PostmarkSender, TwilioSender
from connectors.messaging.base import MessagingError, OutgoingMessage
from connectors.messaging.postmark.lookup import find_sent as postmark_found
from connectors.messaging.postmark.lookup import received_at
from connectors.messaging.twilio.lookup import PAGE_SIZE
from connectors.messaging.twilio.lookup import find_sent as twilio_found
from domain import Channel
from sandbox import RunningSandbox
from tests.connectors.callback_fixtures import doc

SHIPPED = "Acme Coffee: order 1001 shipped with UPS, tracking 1Z0001."
ATTEMPT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # when the interrupted attempt started
KEY = "order-acme-1001:shipped:email"


def test_twilio_finds_our_message_by_number_body_and_time() -> None:
    receipt = twilio_found(doc("twilio", "message_list.json"), SHIPPED, ATTEMPT)
    assert receipt is not None and receipt.provider_message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert receipt.accepted_at == datetime(2026, 11, 22, 12, 0, 3, tzinfo=UTC)


def test_twilio_says_not_there_only_when_the_page_reaches_back_past_the_attempt() -> None:
    page = doc("twilio", "message_list.json")
    assert twilio_found(page, "Acme Coffee: order 1001 was delivered.", ATTEMPT) is None  # older one ends the window
    # the same body sent before the attempt (yesterday's message) is not ours
    assert twilio_found(page, "Acme Coffee: thanks for your order 1001!", ATTEMPT) is None

    full = {**page, "messages": [copy.deepcopy(page["messages"][0]) | {"body": f"other {i}"} for i in range(PAGE_SIZE)]}
    with pytest.raises(MessagingError, match="cannot tell whether it was sent"):
        twilio_found(full, SHIPPED, ATTEMPT)
    more = {**page, "messages": page["messages"][:1], "next_page_uri": page["uri"] + "&PageToken=PA1"}
    with pytest.raises(MessagingError):
        twilio_found(more, "another body", ATTEMPT - timedelta(days=2))


def test_twilio_answers_it_cannot_read_are_not_a_no() -> None:
    page = doc("twilio", "message_list.json")
    page["messages"][0]["date_created"] = "yesterday-ish"
    with pytest.raises(MessagingError, match="date_created"):
        twilio_found(page, SHIPPED, ATTEMPT)
    with pytest.raises(MessagingError, match="no `messages`"):
        twilio_found({"code": 20003}, SHIPPED, ATTEMPT)


def test_postmark_finds_our_message_by_the_key_in_its_metadata() -> None:
    receipt = postmark_found(doc("postmark", "outbound_search.json"), KEY)
    assert receipt is not None and receipt.provider_message_id == "0ac29aee-e1cd-480d-b08d-4f48548ff48d"
    assert receipt.accepted_at == datetime(2026, 11, 22, 12, 0, 3, 658373, tzinfo=UTC)  # 7 decimals, -05:00
    assert postmark_found({"TotalCount": 0, "Messages": []}, KEY) is None
    with pytest.raises(MessagingError, match="none carrying our key"):
        postmark_found(doc("postmark", "outbound_search.json"), "another-key")
    assert received_at("2026-11-22T12:00:03Z") == datetime(2026, 11, 22, 12, 0, 3, tzinfo=UTC)


def message(channel: Channel, key: str) -> OutgoingMessage:
    if channel is Channel.EMAIL:
        return OutgoingMessage(channel=channel, recipient="ada@example.com", sender="orders@acme.example",
                               text="Shipped", subject="Shipped", idempotency_key=key)  # fmt: skip
    return OutgoingMessage(channel=channel, recipient="+15558675310", sender="+15017122661", text=SHIPPED,
                           idempotency_key=key)  # fmt: skip


async def test_the_lookups_over_sockets(sandbox: RunningSandbox, control: httpx.AsyncClient, http) -> None:
    since = datetime.now(UTC)
    twilio = TwilioSender(Channel.SMS, sandbox.twilio_base_url, "AClookups000000000000000000000000", "token", http)
    postmark = PostmarkSender(sandbox.postmark_base_url, "lookup-token", http)
    assert await twilio.lookup(message(Channel.SMS, "k-sms"), since) is None
    assert await postmark.lookup(message(Channel.EMAIL, KEY), since) is None

    sms = await twilio.send(message(Channel.SMS, "k-sms"))
    email = await postmark.send(message(Channel.EMAIL, KEY))

    found_sms = await twilio.lookup(message(Channel.SMS, "k-sms"), since)
    found_email = await postmark.lookup(message(Channel.EMAIL, KEY), since)
    assert found_sms is not None and found_sms.provider_message_id == sms.provider_message_id
    assert found_email is not None and found_email.provider_message_id == email.provider_message_id
    # another server's token sees none of this server's messages
    assert (
        await PostmarkSender(sandbox.postmark_base_url, "another-server-9999", http).lookup(
            message(Channel.EMAIL, KEY), since
        )
        is None
    )

    (await control.post("/_sandbox/postmark/revoke-key", json={"key": "lookup-token"})).raise_for_status()
    with pytest.raises(MessagingError) as refused:
        await postmark.lookup(message(Channel.EMAIL, KEY), since)
    assert "lookup-token" not in str(refused.value)
