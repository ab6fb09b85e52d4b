"""WhatsAppCloudSender against the sandbox's WhatsApp Cloud API over real sockets: the template message
WhatsApp received, and the errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest

from connectors.messaging import Endpoints, build_sender
from connectors.messaging.base import OutgoingMessage, OutgoingTemplate
from connectors.messaging.whatsapp_cloud import CODES, WhatsAppCloudSender, refusal_for, template_message
from connectors.messaging.whatsapp_cloud.error import whatsapp_error
from connectors.messaging.whatsapp_cloud.models import ErrorResponse, SendResponse, TemplateMessage
from domain import Channel
from sandbox import RunningSandbox
from tests.connectors.callback_fixtures import doc
from tests.connectors.sender_kit import fail_next, messaging_error, outgoing, revoke_key, sandbox_requests

TOKEN = "EAAJBtesttoken3333"
PHONE_NUMBER_ID = "106540352242922"
SHIPPED = OutgoingTemplate(name="order_shipped", language="en_US", parameters=["Ada", "1001"])


fixture = partial(doc, "whatsapp_cloud")


def message(**overrides: object) -> OutgoingMessage:
    return outgoing(
        {
            "channel": Channel.WHATSAPP,
            "recipient": "+16505551234",
            "sender": PHONE_NUMBER_ID,
            "text": "Hi Ada, your order 1001 shipped.",
            "idempotency_key": "order~acme~1001:shipped:whatsapp",
            "template": SHIPPED,
        },
        overrides,
    )


@pytest.fixture
async def sender(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[WhatsAppCloudSender]:
    yield WhatsAppCloudSender(sandbox.whatsapp_base_url, TOKEN, http=http, timeout=2)


requests = partial(sandbox_requests, vendor="whatsapp")


def test_fixtures_are_metas_shapes() -> None:
    TemplateMessage.model_validate(fixture("template_message_request.json"))
    assert SendResponse.model_validate(fixture("send_response.json")).messages[0].id
    for name in ("error_reengagement.json", "error_undeliverable.json", "error_rate_limit.json",
                 "error_token_expired.json", "error_template_missing.json"):  # fmt: skip
        assert ErrorResponse.model_validate(fixture(name)).error.code


def test_the_mapper_writes_the_published_request_body() -> None:
    assert template_message(message(), SHIPPED) == fixture("template_message_request.json")


async def test_whatsapp_receives_the_template_and_we_record_the_wamid(sender, sandbox, control):
    receipt = await sender.send(message())

    [got] = await requests(control)
    assert got["body"] == fixture("template_message_request.json")
    assert (got["phone_number_id"], got["version"], got["credential"]) == (PHONE_NUMBER_ID, "v21.0", "…3333")
    assert receipt.provider_message_id == got["message_id"] and got["message_id"].startswith("wamid.")
    [shown] = sandbox.state.texts  # the outbox page lists it with the text messages
    assert shown["channel"] == "whatsapp" and shown["body"] == "template order_shipped (en_US): Ada | 1001"


async def test_a_template_without_parameters_sends_no_components(sender, control):
    await sender.send(message(template=OutgoingTemplate(name="hello_world", language="en_US")))
    [got] = await requests(control)
    assert got["body"]["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


async def test_no_template_or_no_phone_number_id_is_our_setup(sender, control):
    err = await messaging_error(sender.send(message(template=None)), "approved templates only")
    assert (err.retryable, err.recipient_fault) == (False, False)
    err = await messaging_error(sender.send(message(sender="+15550001111")), "phone number ID")
    assert err.retryable is False
    assert await requests(control) == []


@pytest.mark.parametrize(("status", "code"), [(429, 130429), (500, 131000), (503, 2)])
async def test_rate_limits_and_outages_are_retryable_and_nothing_was_sent(sender, sandbox, control, status, code):
    await fail_next(control, "whatsapp", status_code=status)
    err = await messaging_error(sender.send(message()), f"WhatsApp Cloud API error {code}.*HTTP {status}")
    assert (err.retryable, err.maybe_sent, err.recipient_fault) == (True, False, False)
    assert sandbox.state.texts == []


async def test_an_undeliverable_recipient_is_skipped_and_suppressed(sender, control):
    await control.post("/_sandbox/whatsapp/refuse", json={"recipient": "16505551234"})
    err = await messaging_error(sender.send(message()), "error 131026")
    assert (err.retryable, err.recipient_fault, err.suppression) == (False, True, "bounced")


async def test_a_bad_token_is_a_configuration_error(sandbox, http, control):
    await revoke_key(control, "whatsapp", TOKEN)
    revoked = WhatsAppCloudSender(sandbox.whatsapp_base_url, TOKEN, http=http, timeout=2)
    err = await messaging_error(revoked.send(message()), r"error 190.*renew the WhatsApp access token")
    assert (err.retryable, err.recipient_fault) == (False, False)
    assert TOKEN not in str(err)


@pytest.mark.parametrize(
    ("name", "kind", "suppression"),
    [
        ("error_reengagement.json", "configuration", None),
        ("error_undeliverable.json", "recipient", "bounced"),
        ("error_rate_limit.json", "retry", None),
        ("error_token_expired.json", "configuration", None),
        ("error_template_missing.json", "configuration", None),
    ],
)
def test_error_fixtures_map_to_our_outcomes(name, kind, suppression) -> None:
    body = fixture(name)
    err = whatsapp_error(400, body)
    assert f"error {body['error']['code']}" in str(err) and body["error"]["message"] in str(err)
    assert err.retryable is (kind == "retry") and err.recipient_fault is (kind == "recipient")
    assert err.suppression == suppression


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_in_the_units_table_maps(code: int) -> None:
    refusal = refusal_for(code)
    assert refusal is CODES[code]
    err = whatsapp_error(400, {"error": {"message": "words", "code": code}})
    assert err.retryable is (refusal.kind == "retry") and err.recipient_fault is (refusal.kind == "recipient")


def test_unknown_codes_and_bodies_fall_back_on_the_http_status() -> None:
    assert whatsapp_error(400, {"error": {"code": 999999, "message": "new"}}).retryable is False
    assert whatsapp_error(503, {"error": {"code": 999999}}).retryable is True
    assert whatsapp_error(500, {"not": "graph"}).retryable is True


def test_build_sender_picks_whatsapp_cloud_with_its_version_and_number() -> None:
    built = build_sender(
        Channel.WHATSAPP, "whatsapp_cloud", None, {"access_token": TOKEN, "phone_number_id": "42"},
        endpoints=Endpoints(whatsapp_base_url="http://127.0.0.1:1/whatsapp", whatsapp_version="v20.0"),
    )  # fmt: skip
    assert isinstance(built, WhatsAppCloudSender)
    assert built.messages_url("42") == "http://127.0.0.1:1/whatsapp/v20.0/42/messages"
    with pytest.raises(ValueError, match="sends whatsapp, not email"):
        build_sender(Channel.EMAIL, "whatsapp_cloud", None, {"access_token": TOKEN})


async def test_an_error_that_echoes_the_number_does_not_carry_it(sender, control):
    err = await messaging_error(sender.send(message(recipient="+16505")), "not a valid phone number")
    assert "16505" not in str(err) and err.__cause__ is None
