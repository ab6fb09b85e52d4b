"""`send_message` with each merchant's own provider and account, as its policy names them, through the real
connectors and the sandbox's SendGrid, Postmark and WhatsApp Cloud API over real sockets.

The worker's environment holds every merchant's credentials under the variable names their policies give;
the requests carry only those names (what a journey's history holds), never a value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import PROVIDER_CONFIGURATION_ERROR, MessagingActivities
from activities.senders import SenderBook
from activities.templates import TemplateRenderer
from connectors.messaging import MessageSender
from domain import Channel, MessageOutcome, MessageRequest, MessageStatus, ProviderTemplate, SkipReason, Step
from storage import OutboxStatus, Store, SuppressionReason
from tests.activities.conftest import MakeRequest

ENVIRON = {
    "ACME_SENDGRID_KEY": "SG.acme-account-aaaa",
    "BEANS_SENDGRID_KEY": "SG.beans-account-bbbb",
    "BEANS_POSTMARK_TOKEN": "beans-postmark-token-cccc",
    "ACME_WHATSAPP_TOKEN": "EAAJB-acme-dddd",
}
SHIPPED = ProviderTemplate(name="order_shipped", language="en_US", parameters=["customer.first_name", "order.id"])


@pytest.fixture
def book(build: Callable[..., MessageSender], senders: dict) -> SenderBook:
    defaults = {"sendgrid": {"api_key": "SG.worker-default-eeee"}}
    return SenderBook(senders, build, default_credentials=defaults, environ=ENVIRON)


@pytest.fixture
def merchants(store: Store, book: SenderBook, renderer: TemplateRenderer) -> MessagingActivities:
    return MessagingActivities(store, book, renderer)


async def send(messaging: MessagingActivities, req: MessageRequest) -> MessageOutcome:
    return await ActivityEnvironment().run(messaging.send_message, req)


async def received(control: httpx.AsyncClient, vendor: str) -> list[dict[str, Any]]:
    return (await control.get(f"/_sandbox/{vendor}/requests")).json()["requests"]


def acme(make_request: MakeRequest, key: str, **kw: Any) -> MessageRequest:
    fields: dict[str, Any] = {"step": Step.SHIPPED, "sender": "Acme <orders@acme.example>", "provider": "sendgrid",
                              "credentials_env": {"api_key": "ACME_SENDGRID_KEY"}}  # fmt: skip
    return make_request(key, **(fields | kw))


def beans(make_request: MakeRequest, key: str, provider: str = "sendgrid", **kw: Any) -> MessageRequest:
    env = {"api_key": "BEANS_SENDGRID_KEY"} if provider == "sendgrid" else {"server_token": "BEANS_POSTMARK_TOKEN"}
    fields: dict[str, Any] = {"step": Step.SHIPPED, "merchant_id": "bean-there", "order_id": "B-7",
                              "recipient": "bo@example.com", "sender": "Bean There <hi@beans.example>"}  # fmt: skip
    return make_request(key, provider=provider, credentials_env=env, **(fields | kw))


async def test_two_merchants_send_from_their_own_accounts(merchants, make_request, control, store, senders):
    first = await send(merchants, acme(make_request, "acme-1001:shipped:email"))
    second = await send(merchants, beans(make_request, "beans-B-7:shipped:email"))

    got = await received(control, "sendgrid")
    assert [(r["credential"], r["body"]["from"]["email"]) for r in got] == [
        ("…aaaa", "orders@acme.example"),
        ("…bbbb", "hi@beans.example"),
    ]
    assert [r["body"]["custom_args"]["aftercare_key"] for r in got] == [
        "acme-1001:shipped:email",
        "beans-B-7:shipped:email",
    ]
    # the provider's message id is what the outbox and the journey record
    assert (first.status, first.provider_message_id) == (MessageStatus.SENT, got[0]["message_id"])
    assert second.provider_message_id == got[1]["message_id"]
    [row] = store.list_messages("acme", "1001")
    assert (row.status, row.provider_message_id) == (OutboxStatus.SENT, got[0]["message_id"])
    assert senders[Channel.EMAIL].calls == []  # the worker's default email sender was not used


async def test_switching_provider_is_a_policy_change(merchants, make_request, control):
    await send(merchants, beans(make_request, "beans-B-7:shipped:email", provider="postmark"))
    [got] = await received(control, "postmark")
    assert got["credential"] == "…cccc" and got["body"]["From"] == "Bean There <hi@beans.example>"
    assert await received(control, "sendgrid") == []


async def test_a_policy_naming_no_variables_uses_the_workers_credentials(merchants, make_request, control):
    await send(merchants, make_request("acme-1:shipped:email", step=Step.SHIPPED, sender="orders@acme.example",
                                       provider="sendgrid"))  # fmt: skip
    [got] = await received(control, "sendgrid")
    assert got["credential"] == "…eeee"


async def test_journeys_from_before_providers_per_merchant_use_the_default_sender(merchants, make_request, senders):
    outcome = await send(merchants, make_request("old-1:confirmation:email"))
    assert outcome.status is MessageStatus.SENT and len(senders[Channel.EMAIL].calls) == 1


async def test_a_variable_the_worker_lacks_fails_loudly_naming_it(merchants, make_request, control, store):
    req = acme(make_request, "acme-1001:shipped:email", credentials_env={"api_key": "ACME_SENDGRID_KEY_TYPO"})
    with pytest.raises(ApplicationError) as caught:
        await send(merchants, req)
    assert caught.value.type == PROVIDER_CONFIGURATION_ERROR and caught.value.non_retryable
    assert "ACME_SENDGRID_KEY_TYPO" in str(caught.value) and "channels.email.credentials_env" in str(caught.value)
    assert "SG." not in str(caught.value)  # no credential value, of any merchant
    assert await received(control, "sendgrid") == []
    [row] = store.list_messages("acme", "1001")
    assert row.status is OutboxStatus.FAILED  # a retry once the variable is set sends it once


async def test_a_refused_recipient_is_skipped_and_suppressed_for_later_messages(merchants, make_request, control,
                                                                                 store):  # fmt: skip
    await control.post("/_sandbox/postmark/refuse", json={"recipient": "bo@example.com"})
    outcome = await send(merchants, beans(make_request, "beans-B-7:shipped:email", provider="postmark"))
    assert (outcome.status, outcome.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert "bo@example.com" not in outcome.detail
    assert store.get_suppression(Channel.EMAIL, "bo@example.com") is SuppressionReason.BOUNCED
    later = await send(merchants, beans(make_request, "beans-B-8:shipped:email", provider="postmark"))
    assert later.skip_reason is SkipReason.SUPPRESSED
    assert len(await received(control, "postmark")) == 0


async def test_a_bad_key_fails_loudly_as_configuration(merchants, make_request, control):
    await control.post("/_sandbox/sendgrid/revoke-key", json={"key": ENVIRON["ACME_SENDGRID_KEY"]})
    with pytest.raises(ApplicationError, match="SendGrid cannot send email messages") as caught:
        await send(merchants, acme(make_request, "acme-1001:shipped:email"))
    assert caught.value.type == PROVIDER_CONFIGURATION_ERROR and caught.value.non_retryable


async def test_an_outage_is_retried_and_the_retry_sends_once(merchants, make_request, control):
    await control.post("/_sandbox/sendgrid/fail-next", json={"status_code": 503})
    req = acme(make_request, "acme-1001:shipped:email")
    with pytest.raises(Exception, match="HTTP 503"):
        await send(merchants, req)
    assert (await send(merchants, req)).status is MessageStatus.SENT
    assert (await send(merchants, req)).status is MessageStatus.SENT
    assert len(await received(control, "sendgrid")) == 1


async def test_whatsapp_sends_the_steps_approved_template_with_parameters_from_the_context(
    merchants, make_request, control
):
    req = make_request("acme-1001:shipped:whatsapp", step=Step.SHIPPED, channel=Channel.WHATSAPP,
                       recipient="+16505551234", sender="106540352242922", provider="whatsapp_cloud",
                       credentials_env={"access_token": "ACME_WHATSAPP_TOKEN"}, template=SHIPPED)  # fmt: skip
    outcome = await send(merchants, req)

    [got] = await received(control, "whatsapp")
    assert got["credential"] == "…dddd" and got["phone_number_id"] == "106540352242922"
    assert got["body"]["template"] == {
        "name": "order_shipped",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                                       {"type": "text", "text": "1001"}]}],
    }  # fmt: skip
    assert got["body"]["biz_opaque_callback_data"] == "acme-1001:shipped:whatsapp"
    assert outcome.provider_message_id == got["message_id"]
