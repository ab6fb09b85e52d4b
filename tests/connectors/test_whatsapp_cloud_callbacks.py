"""WhatsApp Cloud API webhooks: X-Hub-Signature-256, the GET handshake, the published status shapes, the table."""

from __future__ import annotations

import json

import pytest

from connectors.messaging.callbacks import CallbackRefused
from connectors.messaging.whatsapp_cloud.units_events import ERROR_CODES, STATUSES, map_status
from connectors.messaging.whatsapp_cloud.webhook import SIGNATURE_HEADER, handshake, parse, sign
from domain import Channel
from domain.delivery import DeliveryStatus, Suppress
from tests.connectors.callback_fixtures import assert_refused, doc, raw

SECRET = "meta-app-secret"
VERIFY = "our-verify-token"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(body, secret)}


@pytest.mark.parametrize(
    ("fixture", "status", "suppress", "vendor_event"),
    [
        ("status_sent.json", None, Suppress.NOTHING, "sent"),
        ("status_delivered.json", DeliveryStatus.DELIVERED, Suppress.NOTHING, "delivered"),
        ("status_read.json", DeliveryStatus.OPENED, Suppress.NOTHING, "read"),
        ("status_failed.json", DeliveryStatus.BOUNCED, Suppress.NOTHING, "failed (131026)"),
        ("status_failed_marketing_opt_out.json", DeliveryStatus.UNSUBSCRIBED, Suppress.NO_MARKETING, "failed (131050)"),
    ],
)
def test_each_published_status_maps_to_ours(
    fixture: str, status: DeliveryStatus | None, suppress: Suppress, vendor_event: str
) -> None:
    body = raw("whatsapp_cloud", fixture)
    [event] = parse(body, signed(body), SECRET)
    assert (event.status, event.suppress, event.vendor_event) == (status, suppress, vendor_event)
    assert event.provider == "whatsapp_cloud" and event.channels == (Channel.WHATSAPP,)
    assert event.provider_message_id == WAMID and event.recipient == "16505553333"
    assert event.idempotency_key == "order-acme-1001:shipped:whatsapp"  # biz_opaque_callback_data
    assert event.occurred_at is not None


def test_a_failure_keeps_metas_words() -> None:
    body = raw("whatsapp_cloud", "status_failed.json")
    [event] = parse(body, signed(body), SECRET)
    assert event.detail == "131026 Message undeliverable Message undeliverable"


def test_inbound_messages_and_other_fields_are_left_out() -> None:
    payload = doc("whatsapp_cloud", "status_delivered.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = [{"from": "16315551181", "id": "ABGGFlA5Fpa", "timestamp": "1504902988", "type": "text"}]
    del value["statuses"]
    payload["entry"][0]["changes"].append({"field": "account_update", "value": {"event": "x"}})
    body = json.dumps(payload).encode()
    assert parse(body, signed(body), SECRET) == []


def test_wrong_secret_changed_body_or_no_header_are_refused() -> None:
    body = raw("whatsapp_cloud", "status_delivered.json")
    for sent, headers, message in [
        (body, signed(body, "another-secret"), "bad signature"),
        (body.replace(b"delivered", b"read"), signed(body), "bad signature"),
        (body, {SIGNATURE_HEADER: signed(body)[SIGNATURE_HEADER].removeprefix("sha256=")}, "bad signature"),
        (body, {}, "missing X-Hub-Signature-256"),
    ]:
        assert_refused("signature", message, parse, sent, headers, SECRET)


def test_no_app_secret_is_a_configuration_problem() -> None:
    body = raw("whatsapp_cloud", "status_delivered.json")
    assert_refused("unconfigured", "AFTERCARE_WHATSAPP_APP_SECRET", parse, body, signed(body), "")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"object": "whatsapp_business_account", "entry": [', "malformed JSON"),
        ('{"object": "page", "entry": []}', "'object' must be 'whatsapp_business_account'"),
        ('{"object": "whatsapp_business_account", "entry": {}}', "'entry' must be a list"),
        ('{"object": "whatsapp_business_account", "entry": [{"id": "1"}]}', r"entry\[0\].changes must be a list"),
        (
            '{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": '
            '{"statuses": [{"status": "sent", "timestamp": "1"}]}}]}]}',
            r"statuses\[0\] has no message 'id'",
        ),
        (
            '{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": '
            '{"statuses": [{"id": "wamid.x", "status": "sent"}]}}]}]}',
            "has no 'timestamp'",
        ),
    ],
)
def test_malformed_or_truncated_bodies_name_the_problem(payload: str, message: str) -> None:
    body = payload.encode()
    assert_refused("malformed", message, parse, body, signed(body), SECRET)


def test_the_handshake_echoes_the_challenge_only_for_our_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    assert handshake(query, VERIFY) == "1158201444"
    for bad in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}):
        assert_refused("signature", None, handshake, query | bad, VERIFY)
    with pytest.raises(CallbackRefused, match="AFTERCARE_WHATSAPP_VERIFY_TOKEN"):
        handshake(query, "")


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_units_table_covers_every_status(status: str) -> None:
    assert map_status(status) == STATUSES[status]


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_units_table_covers_every_error_code(code: int) -> None:
    assert map_status("failed", code) == ERROR_CODES[code]


def test_statuses_we_do_not_track_are_ignored() -> None:
    assert map_status("deleted") is None and map_status("warning") is None
