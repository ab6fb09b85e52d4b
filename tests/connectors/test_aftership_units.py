"""AfterShip's format, without the network: its tag/subtag table, fixtures in its published shape, the mapper,
the `aftership-hmac-sha256` check and its failed answers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from connectors.carriers.aftership import (
    COURIER_MAP,
    SUBTAG_MAP,
    TAG_MAP,
    AfterShipCarrier,
    carrier_to_courier,
    courier_to_carrier,
    map_status,
    sign,
    tracking_to_result,
)
from connectors.carriers.aftership import models as aftership_models
from connectors.carriers.aftership.error import tracking_error
from connectors.carriers.base import WebhookError
from domain import ExceptionReason, TrackingStatus
from domain.carriers import CARRIERS

FIXTURES = Path(__file__).parent / "fixtures" / "aftership"
SECRET = "as-webhook-secret"
S, R = TrackingStatus, ExceptionReason


def fixture(name: str) -> dict[str, Any]:
    """One of AfterShip's own payloads, written to its published format (AfterShip Tracking API v4 docs)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def carrier() -> AfterShipCarrier:
    return AfterShipCarrier("http://127.0.0.1:9/aftership", "key", SECRET)


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"aftership-hmac-sha256": sign(body, secret), "content-type": "application/json"}


# --- the table ------------------------------------------------------------------------------------

EVERY_TAG = {
    "Pending": (S.PENDING, None),
    "InfoReceived": (S.PENDING, None),
    "InTransit": (S.IN_TRANSIT, None),
    "OutForDelivery": (S.OUT_FOR_DELIVERY, None),
    "AttemptFail": (S.ATTEMPT_FAILED, None),
    "Delivered": (S.DELIVERED, None),
    "AvailableForPickup": (S.AVAILABLE_FOR_PICKUP, None),
    "Exception": (S.EXCEPTION, R.OTHER),
    "Expired": (S.EXPIRED, None),
}
EVERY_SUBTAG = {
    **{f"Delivered_00{i}": (S.DELIVERED, None) for i in range(1, 5)},
    "AvailableForPickup_001": (S.AVAILABLE_FOR_PICKUP, None),
    "Exception_001": (S.EXCEPTION, R.OTHER),
    "Exception_002": (S.EXCEPTION, R.ADDRESS),
    "Exception_003": (S.EXCEPTION, R.REFUSED),
    "Exception_004": (S.EXCEPTION, R.CUSTOMS),
    "Exception_005": (S.EXCEPTION, R.OTHER),
    "Exception_006": (S.EXCEPTION, R.OTHER),
    "Exception_007": (S.EXCEPTION, R.ADDRESS),
    "Exception_008": (S.EXCEPTION, R.OTHER),
    "Exception_009": (S.EXCEPTION, R.OTHER),
    "Exception_010": (S.RETURNING, None),
    "Exception_011": (S.RETURNED, None),
    "Exception_012": (S.EXCEPTION, R.DAMAGED),
    "Exception_013": (S.EXCEPTION, R.LOST),
    **{f"AttemptFail_00{i}": (S.ATTEMPT_FAILED, None) for i in range(1, 4)},
    **{f"InTransit_00{i}": (S.IN_TRANSIT, None) for i in range(1, 10)},
    "InfoReceived_001": (S.PENDING, None),
    "OutForDelivery_001": (S.OUT_FOR_DELIVERY, None),
    "OutForDelivery_002": (S.AVAILABLE_FOR_PICKUP, None),
    "OutForDelivery_003": (S.OUT_FOR_DELIVERY, None),
    "OutForDelivery_004": (S.OUT_FOR_DELIVERY, None),
    **{f"Pending_00{i}": (S.PENDING, None) for i in range(1, 7)},
    "Expired_001": (S.EXPIRED, None),
}


@pytest.mark.parametrize(("tag", "expected"), sorted(EVERY_TAG.items()))
def test_every_tag_maps_onto_our_status(tag: str, expected: tuple[S, R | None]) -> None:
    assert map_status(tag, None) == (*expected, True)


@pytest.mark.parametrize(("subtag", "expected"), sorted(EVERY_SUBTAG.items()))
def test_every_subtag_maps_onto_our_status_and_reason(subtag: str, expected: tuple[S, R | None]) -> None:
    assert map_status(subtag.split("_")[0], subtag) == (*expected, True)


def test_the_tables_hold_exactly_the_documented_codes() -> None:
    assert set(TAG_MAP) == set(EVERY_TAG) and set(SUBTAG_MAP) == set(EVERY_SUBTAG)


def test_an_unknown_code_is_unknown_or_its_tag_and_is_counted_and_logged_without_the_parcel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert map_status("Teleported", "Teleported_001") == (S.UNKNOWN, None, False)
    assert map_status("InTransit", "InTransit_042") == (S.IN_TRANSIT, None, False)
    tracking = fixture("tracking_in_transit")["data"]["tracking"]
    tracking["checkpoints"][-1] |= {"tag": "Teleported", "subtag": "Teleported_001"}
    before = REGISTRY.get_sample_value(
        "aftercare_unknown_vendor_codes_total", {"provider": "aftership", "code": "Teleported_001"}
    )
    with caplog.at_level(logging.WARNING, "connectors.carriers.unknown_codes"):
        events = tracking_to_result(tracking).events
    assert events[-1].status is S.UNKNOWN and events[-1].carrier_code == "Teleported/Teleported_001"
    after = REGISTRY.get_sample_value(
        "aftercare_unknown_vendor_codes_total", {"provider": "aftership", "code": "Teleported_001"}
    )
    assert after == (before or 0) + 1
    assert "Teleported_001" in caplog.text and tracking["tracking_number"] not in caplog.text


@pytest.mark.parametrize(
    ("slug", "ours"),
    [("ups", "ups"), ("fedex", "fedex"), ("dhl", "dhl_express"), ("royal-mail", "royal_mail"), ("usps", "usps"),
     ("hermes-uk", "evri"), ("canada-post", "canada_post"), ("acme-couriers", "acme_couriers")],
)  # fmt: skip
def test_aftership_courier_slugs_map_onto_our_carrier_slugs(slug: str, ours: str) -> None:
    assert courier_to_carrier(slug) == ours


def test_every_courier_slug_lands_on_a_carrier_we_name_and_back() -> None:
    assert set(COURIER_MAP.values()) <= set(CARRIERS)
    assert {carrier_to_courier(ours) for ours in set(COURIER_MAP.values())} <= set(COURIER_MAP)
    assert carrier_to_courier("royal_mail") == "royal-mail" and carrier_to_courier(None) is None


# --- fixtures and the mapper ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["tracking_in_transit", "tracking_created", "error_tracking_missing", "error_tracking_exists",
     "error_rate_limited", "error_invalid_key"],
)  # fmt: skip
def test_api_fixtures_validate_as_aftership_envelopes(name: str) -> None:
    aftership_models.Envelope.model_validate(fixture(name))


@pytest.mark.parametrize(
    "name", ["webhook_delivered", "webhook_exception_lost", "webhook_edd_revise", "webhook_expired"]
)
def test_webhook_fixtures_validate_as_aftership_webhooks(name: str) -> None:
    event = aftership_models.WebhookEvent.model_validate(fixture(name))
    assert event.event in ("tracking_update", "edd_revise") and event.msg.tracking_number


def test_a_tracking_maps_to_our_events_oldest_first_with_place_time_and_edd() -> None:
    result = tracking_to_result(fixture("tracking_in_transit")["data"]["tracking"])
    assert [e.status for e in result.events] == [S.PENDING, S.IN_TRANSIT, S.IN_TRANSIT]
    pickup = result.events[1]
    assert pickup.occurred_at == datetime(2026, 11, 20, 18, 3, tzinfo=timezone(timedelta(hours=-5)))
    assert pickup.location == "Louisville, KY, USA 40213" and pickup.description == "Pickup Scan"
    assert pickup.carrier == "aftership" and pickup.carrier_code == "InTransit/InTransit_002"
    assert result.events[0].occurred_at == datetime(2026, 11, 20, 14, 5, tzinfo=UTC)  # no offset: UTC
    assert result.estimated_delivery == datetime(2026, 11, 25, tzinfo=UTC)
    assert result.events[-1].estimated_delivery == datetime(2026, 11, 25, tzinfo=UTC)


def test_the_same_checkpoint_gets_the_same_id_by_poll_and_by_push() -> None:
    polled = tracking_to_result(fixture("tracking_in_transit")["data"]["tracking"]).events
    body = raw("webhook_delivered")
    pushed = carrier().parse_webhook(body, signed(body))
    assert [e.event_id for e in polled] == [e.event_id for e in pushed[:3]]
    assert len({e.event_id for e in pushed}) == len(pushed) == 5
    assert pushed[-1].status is S.DELIVERED and pushed[-1].location == "Brooklyn, NY, USA 11201"


def test_an_exception_carries_its_reason_and_the_courier_is_our_carrier() -> None:
    body = raw("webhook_exception_lost")
    client = carrier()
    [_, lost] = client.parse_webhook(body, signed(body))
    assert (lost.status, lost.exception_reason) == (S.EXCEPTION, R.LOST)
    assert lost.location == "United Kingdom" and lost.carrier_code == "Exception/Exception_013"
    assert client.pushed_carriers(body) == {"RM123456785GB": "royal_mail"}


def test_aftership_s_own_edd_is_read_when_the_carrier_gives_none() -> None:
    body = raw("webhook_edd_revise")
    [scan] = carrier().parse_webhook(body, signed(body))
    assert scan.estimated_delivery == datetime(2026, 11, 26, tzinfo=UTC)


def test_an_expired_tracking_without_checkpoints_is_one_expired_event() -> None:
    body = raw("webhook_expired")
    events = carrier().parse_webhook(body, signed(body))
    assert [(e.status, e.occurred_at) for e in events] == [(S.EXPIRED, datetime(2026, 12, 20, 9, 0, 12, tzinfo=UTC))]
    assert carrier().parse_webhook(body, signed(body))[0].event_id == events[0].event_id


# --- the signature and the envelope ---------------------------------------------------------------


def test_a_push_signed_as_aftership_signs_is_accepted_and_a_merchants_own_secret_replaces_ours() -> None:
    body = raw("webhook_delivered")
    assert carrier().parse_webhook(body, signed(body))
    assert carrier().parse_webhook(body, signed(body, "merchant-secret"), "merchant-secret")
    with pytest.raises(WebhookError, match="bad signature"):
        carrier().parse_webhook(body, signed(body), "merchant-secret")


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({}, b'{"event": "tracking_update"}', "missing aftership-hmac-sha256 signature header"),
        ({"aftership-hmac-sha256": sign(b"{}", "wrong")}, b"{}", "bad signature"),
        (None, b'{"event": "tracking_update", "msg": {"tracking_number": "1Z"', "malformed JSON body"),
        (None, b"[1, 2]", "not an AfterShip webhook: no msg object"),
        (
            None,
            b'{"event": "shipment.updated", "msg": {}}',
            "not an AfterShip tracking event: event 'shipment.updated'",
        ),
        (None, b'{"event": "tracking_update", "msg": "x"}', "msg is not a Tracking object"),
        (None, b'{"event": "tracking_update", "msg": {"slug": "ups"}}', "msg.tracking_number is missing"),
        (
            None,
            b'{"event": "tracking_update", "msg": {"tracking_number": "1Z", "checkpoints": {}}}',
            "checkpoints is not",
        ),
    ],
)
def test_a_push_we_refuse_says_what_is_wrong(headers: dict[str, str] | None, body: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        carrier().parse_webhook(body, signed(body) if headers is None else headers)


def test_a_changed_body_fails_the_signature() -> None:
    body = raw("webhook_delivered")
    headers = signed(body)
    with pytest.raises(WebhookError, match="bad signature"):
        carrier().parse_webhook(body.replace(b"Delivered_001", b"Exception_013"), headers)


# --- failed answers -------------------------------------------------------------------------------


def answer(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1:9/aftership/v4/trackings/ups/1Z")
    return httpx.Response(status, json=fixture(name), headers=headers, request=request)


def test_failed_answers_keep_aftership_s_words_and_retry_only_what_can_change() -> None:
    missing = tracking_error(answer(404, "error_tracking_missing"), "1Z", "reading a tracking")
    assert not missing.retryable and "does not know tracking number '1Z' (4004: Tracking does not exist.)" in str(
        missing
    )
    key = tracking_error(answer(401, "error_invalid_key"), "1Z", "reading a tracking")
    assert not key.retryable and "rejected the API key (401: Invalid API key.)" in str(key)
    limited = tracking_error(answer(429, "error_rate_limited", {"Retry-After": "7"}), "1Z", "reading a tracking")
    assert limited.retryable and limited.retry_after == 7 and "retry after 7s" in str(limited)
    request = httpx.Request("GET", "http://127.0.0.1:9/nowhere")
    wrong = tracking_error(httpx.Response(404, text="Not Found", request=request), "1Z", "reading a tracking")
    assert not wrong.retryable and "check the AfterShip base URL" in str(wrong)
