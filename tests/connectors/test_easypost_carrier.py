"""EasyPostCarrier against the sandbox's EasyPost over real sockets: what a journey would see."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from connectors.carriers import build_carriers
from connectors.carriers.base import CarrierError, WebhookError
from connectors.carriers.easypost import EasyPostCarrier, map_status, sign, tracker_to_result
from connectors.carriers.easypost import models as easypost_models
from connectors.carriers.easypost.error import shipment_error, tracker_error
from connectors.carriers.easypost.mapper import label_created_at, label_of
from domain import Address, ExceptionReason, ReturnLabelRequest, TrackingStatus
from sandbox import RunningSandbox
from tests.connectors.carrier_kit import assert_timeout_and_refusal_are_retryable, dead_url, last_push

EDD = "2026-11-28T00:00:00Z"
FIXTURES = Path(__file__).parent / "fixtures" / "easypost"


def fixture(name: str) -> dict:
    """One of EasyPost's own payloads, written to its published format (docs.easypost.com)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
async def carrier(
    sandbox: RunningSandbox, api_key: str, webhook_secret: str, http: httpx.AsyncClient
) -> AsyncIterator[EasyPostCarrier]:
    client = EasyPostCarrier(sandbox.easypost_base_url, api_key, webhook_secret, http=http, timeout=2)
    yield client
    await client.aclose()


async def scan(control: httpx.AsyncClient, code: str, **fields: object) -> dict:
    fields.setdefault("deliver_webhook", False)
    resp = await control.post(f"/_sandbox/easypost/trackers/{code}/scan", json=fields)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_parcel_journey_maps_to_our_statuses_oldest_first_with_edd(carrier, control):
    code = "9400100000000000000001"
    await scan(control, code, status="pre_transit", datetime="2026-11-22T09:00:00Z", city="Reno", state="NV")
    await scan(control, code, status="in_transit", status_detail="arrived_at_facility",
               message="Arrived at USPS Regional Facility", datetime="2026-11-23T02:10:00Z",
               city="Sacramento", state="CA", est_delivery_date=EDD)  # fmt: skip
    await scan(control, code, status="out_for_delivery", datetime="2026-11-25T07:45:00Z", city="Oakland")
    await scan(control, code, status="delivered", message="Delivered, Front Door/Porch",
               datetime="2026-11-25T15:02:00Z", city="Oakland", state="CA", zip="94607")  # fmt: skip

    result = await carrier.track(code)

    assert [e.status for e in result.events] == [
        TrackingStatus.PENDING,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    assert [e.occurred_at for e in result.events] == sorted(e.occurred_at for e in result.events)
    assert result.estimated_delivery == datetime(2026, 11, 28, tzinfo=UTC)
    assert result.events[1].estimated_delivery == datetime(2026, 11, 28, tzinfo=UTC)
    delivered = result.events[-1]
    assert delivered.description == "Delivered, Front Door/Porch"
    assert delivered.location == "Oakland, CA 94607"
    assert delivered.carrier == "easypost" and delivered.tracking_number == code
    assert delivered.carrier_code == "delivered/arrived_at_destination"
    assert len({e.event_id for e in result.events}) == 4


async def test_exception_scans_carry_a_reason(carrier, control):
    code = "1Z999AA10123456784"
    await scan(control, code, status="in_transit", datetime="2026-11-22T09:00:00Z")
    await scan(control, code, status="in_transit", status_detail="weather_delay",
               message="Severe weather conditions have delayed delivery", datetime="2026-11-23T09:00:00Z")  # fmt: skip
    await scan(control, code, status="failure", status_detail="damaged", datetime="2026-11-24T09:00:00Z")

    events = (await carrier.track(code)).events

    assert [(e.status, e.exception_reason) for e in events] == [
        (TrackingStatus.IN_TRANSIT, None),
        (TrackingStatus.EXCEPTION, ExceptionReason.WEATHER),
        (TrackingStatus.EXCEPTION, ExceptionReason.DAMAGED),
    ]
    assert events[1].description == "Severe weather conditions have delayed delivery"


@pytest.mark.parametrize(
    ("status", "detail", "expected", "reason"),
    [
        ("pre_transit", "label_created", TrackingStatus.PENDING, None),
        ("in_transit", "departed_facility", TrackingStatus.IN_TRANSIT, None),
        ("in_transit", "status_update", TrackingStatus.IN_TRANSIT, None),
        ("out_for_delivery", "out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY, None),
        ("available_for_pickup", "arrived_at_pickup_location", TrackingStatus.AVAILABLE_FOR_PICKUP, None),
        ("in_transit", "arrived_at_pickup_location", TrackingStatus.AVAILABLE_FOR_PICKUP, None),
        ("out_for_delivery", "delivery_attempted", TrackingStatus.ATTEMPT_FAILED, None),
        ("in_transit", "failed_attempt", TrackingStatus.ATTEMPT_FAILED, None),
        ("delivered", "arrived_at_destination", TrackingStatus.DELIVERED, None),
        ("delivered", "damaged", TrackingStatus.DELIVERED, None),  # delivered stays delivered
        ("return_to_sender", "return", TrackingStatus.RETURNING, None),
        ("return_to_sender", "refused", TrackingStatus.RETURNING, None),
        ("failure", "failure", TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
        ("failure", None, TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
        ("in_transit", "lost", TrackingStatus.EXCEPTION, ExceptionReason.LOST),
        ("in_transit", "customs_hold", TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
        ("in_transit", "address_correction", TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
        ("failure", "refused", TrackingStatus.EXCEPTION, ExceptionReason.REFUSED),
        ("in_transit", "delivery_exception", TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
        ("cancelled", "cancelled", TrackingStatus.CANCELLED, None),
        ("canceled", None, TrackingStatus.CANCELLED, None),
        ("unknown", "expired", TrackingStatus.EXPIRED, None),
        ("error", "unknown", TrackingStatus.UNKNOWN, None),  # EasyPost's own error says nothing of the parcel
        ("unknown", None, TrackingStatus.UNKNOWN, None),
        ("something_new", None, TrackingStatus.UNKNOWN, None),
    ],
)
def test_units_table(status, detail, expected, reason):
    assert map_status(status, detail) == (expected, reason)


async def test_poll_and_webhook_give_the_same_event_ids(carrier, control):
    code = "420941139405511899223197428432"
    await scan(control, code, status="pre_transit", datetime="2026-11-22T09:00:00Z")
    answer = await scan(control, code, status="in_transit", status_detail="arrived_at_facility",
                        datetime="2026-11-23T09:00:00Z", est_delivery_date=EDD, deliver_webhook=True)  # fmt: skip
    assert answer["delivery"]["delivered"] is True

    body, headers = await last_push(control)
    from_webhook = carrier.parse_webhook(body, headers)
    from_poll = (await carrier.track(code)).events

    assert [e.event_id for e in from_webhook] == [e.event_id for e in from_poll]
    assert [e.status for e in from_webhook] == [TrackingStatus.PENDING, TrackingStatus.IN_TRANSIT]
    assert from_webhook[-1].estimated_delivery == datetime(2026, 11, 28, tzinfo=UTC)


async def test_webhook_signature_and_body_are_checked(carrier, control, api_key, webhook_secret):
    await scan(control, "SIG12345678", status="in_transit", deliver_webhook=True)
    body, headers = await last_push(control)
    assert headers["x-hmac-signature"].startswith("hmac-sha256-hex=")

    assert [e.tracking_number for e in carrier.parse_webhook(body, headers)] == ["SIG12345678"]

    with pytest.raises(WebhookError, match="missing X-Hmac-Signature header"):
        carrier.parse_webhook(body, {"content-type": "application/json"})
    with pytest.raises(WebhookError, match="bad signature"):
        carrier.parse_webhook(body.replace(b"in_transit", b"delivered"), headers)
    wrong_secret = EasyPostCarrier("http://unused", api_key, "another-secret")
    with pytest.raises(WebhookError, match="bad signature"):
        wrong_secret.parse_webhook(body, headers)
    garbage = b'{"object": "Event", '
    with pytest.raises(WebhookError, match="malformed JSON"):
        carrier.parse_webhook(garbage, {"X-Hmac-Signature": sign(garbage, webhook_secret)})
    batch = json.dumps(fixture("event_batch_updated")).encode()
    with pytest.raises(WebhookError, match=re.escape("not a tracker event: 'batch.updated'")):
        carrier.parse_webhook(batch, {"X-Hmac-Signature": sign(batch, webhook_secret)})


async def test_a_rejected_api_key_is_not_retryable(sandbox, webhook_secret):
    wrong = EasyPostCarrier(sandbox.easypost_base_url, "not-the-key", webhook_secret)
    try:
        with pytest.raises(CarrierError, match="EasyPost rejected the API key") as caught:
            await wrong.track("9400100000000000000001")
    finally:
        await wrong.aclose()
    assert caught.value.retryable is False
    assert caught.value.status_code == 401


async def test_an_unknown_tracking_code_is_not_retryable(carrier, control):
    with pytest.raises(CarrierError, match="does not know tracking code 'no such code!'") as caught:
        await carrier.track("no such code!")
    assert caught.value.retryable is False
    assert caught.value.status_code == 422


async def test_rate_limits_and_outages_are_retryable(carrier, control):
    for status in (429, 503):
        await control.post("/_sandbox/easypost/fail-next", json={"status_code": status})
        with pytest.raises(CarrierError) as caught:
            await carrier.track("9400100000000000000002")
        assert caught.value.retryable is True, status
        assert caught.value.status_code == status
    # and once EasyPost is back, the same call works
    assert (await carrier.track("9400100000000000000002")).events == []


async def test_timeouts_and_refused_connections_are_retryable(sandbox, control, api_key, webhook_secret):
    await assert_timeout_and_refusal_are_retryable(
        control, "easypost",
        slow=EasyPostCarrier(sandbox.easypost_base_url, api_key, webhook_secret, timeout=0.2),
        down=EasyPostCarrier(dead_url("easypost"), api_key, webhook_secret),
        track=lambda client: client.track("9400100000000000000003"),
    )  # fmt: skip


async def test_a_tracker_deleted_at_easypost_is_created_again(carrier, control):
    code = "9400100000000000000004"
    await scan(control, code, status="in_transit")
    first = await carrier.track(code)
    await control.delete(f"/_sandbox/easypost/trackers/{code}")

    again = await carrier.track(code)  # the cached trk_ id now answers 404

    assert first.events and again.events == []


async def test_build_carriers_registers_easypost(sandbox, control, api_key, webhook_secret):
    carriers = build_carriers(sandbox.easypost_base_url, api_key, webhook_secret)
    assert list(carriers) == ["easypost", "shopify"]  # shopify: Shopify's own fulfillment events
    await scan(control, "REG12345678", status="out_for_delivery")
    result = await carriers["easypost"].track("REG12345678")
    assert [e.status for e in result.events] == [TrackingStatus.OUT_FOR_DELIVERY]
    await carriers["easypost"].aclose()


async def test_a_wrong_base_url_is_named_as_such(sandbox, control, api_key, webhook_secret, http):
    misconfigured = EasyPostCarrier(f"{sandbox.http_url}/not-easypost", api_key, webhook_secret, http=http)
    with pytest.raises(CarrierError, match="check the EasyPost base URL") as caught:
        await misconfigured.track("9400100000000000000005")
    assert caught.value.retryable is False


# --- return labels ----------------------------------------------------------------------------

CUSTOMER = Address(name="Ada Lovelace", line1="12 Analytical Way", city="Oakland", region="CA",
                   postal_code="94607", country="us")  # fmt: skip
MERCHANT = Address(name="Acme Returns", line1="1 Dock Street", line2="Bay 4", city="Portland", region="OR",
                   postal_code="97201", country="US")  # fmt: skip


def return_request(key: str = "order-acme-1001:exchange:1", **fields: object) -> ReturnLabelRequest:
    values: dict[str, object] = {
        "idempotency_key": key, "merchant_id": "acme", "order_id": "1001", "carrier": "easypost",
        "from_address": CUSTOMER, "to_address": MERCHANT, "items": {"li-1": 1}, "weight_oz": 12.5,
    }  # fmt: skip
    values.update(fields)
    return ReturnLabelRequest.model_validate(values)


async def test_a_return_label_goes_from_the_customer_to_the_merchant(carrier, sandbox, control, http):
    label = await carrier.create_return_label(return_request())

    [shipment] = sandbox.state.shipments.values()
    assert label.carrier == "easypost" and label.tracking_number == shipment["tracking_code"]
    assert shipment["is_return"] is True and shipment["reference"] == "order-acme-1001:exchange:1"
    assert (shipment["from_address"]["street1"], shipment["from_address"]["zip"]) == ("12 Analytical Way", "94607")
    assert (shipment["to_address"]["name"], shipment["to_address"]["street2"]) == ("Acme Returns", "Bay 4")
    assert shipment["parcel"]["weight"] == 12.5
    assert (shipment["selected_rate"]["carrier"], shipment["selected_rate"]["service"]) == ("USPS", "GroundAdvantage")
    printed = await http.get(label.label_url)
    assert printed.status_code == 200 and printed.headers["content-type"] == "image/png"
    assert printed.content.startswith(b"\x89PNG\r\n\x1a\n")
    # the parcel going back can be tracked like any other
    assert label.tracking_number in sandbox.state.tracker_ids
    assert (await carrier.track(label.tracking_number)).events == []


async def test_the_same_request_twice_buys_one_label(carrier, sandbox, control):
    first = await carrier.create_return_label(return_request())
    again = await carrier.create_return_label(return_request())
    other = await carrier.create_return_label(return_request("order-acme-1001:exchange:2"))

    assert again == first
    assert other.tracking_number != first.tracking_number
    assert len(sandbox.state.shipments) == 2


async def test_a_return_label_without_a_street_is_refused_naming_the_field(carrier, sandbox, control):
    no_street = CUSTOMER.model_copy(update={"line1": None})

    with pytest.raises(CarrierError) as caught:
        await carrier.create_return_label(return_request(from_address=no_street))

    assert str(caught.value) == (
        "EasyPost refused the return label for order 1001 (HTTP 422) (SHIPMENT.INVALID_PARAMS: Unable to create "
        "shipment, one or more parameters were invalid; customer address street1 must be present and a string)"
    )
    assert caught.value.retryable is False and caught.value.status_code == 422
    assert sandbox.state.shipments == {}


async def test_a_service_the_carrier_does_not_sell_is_refused(sandbox, control, api_key, webhook_secret, http):
    ground = EasyPostCarrier(sandbox.easypost_base_url, api_key, webhook_secret, http=http, return_service="Ground")

    with pytest.raises(CarrierError, match="'Ground' is not a USPS service; use one of GroundAdvantage") as caught:
        await ground.create_return_label(return_request())

    assert caught.value.retryable is False


async def test_return_labels_survive_outages_and_refuse_a_wrong_key(carrier, sandbox, control, webhook_secret):
    await control.post("/_sandbox/easypost/fail-next", json={"status_code": 503})
    with pytest.raises(CarrierError, match="EasyPost failed with HTTP 503 making the return label") as caught:
        await carrier.create_return_label(return_request())
    assert caught.value.retryable is True
    assert (await carrier.create_return_label(return_request())).label_url  # EasyPost is back

    wrong = EasyPostCarrier(sandbox.easypost_base_url, "not-the-key", webhook_secret)
    with pytest.raises(CarrierError, match="EasyPost rejected the API key") as caught:
        await wrong.create_return_label(return_request("another-key"))
    await wrong.aclose()
    assert caught.value.retryable is False
    assert len(sandbox.state.shipments) == 1


# --- EasyPost's own payloads (fixtures) through the mapper, the webhook check and the error mapping ------


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("tracker", easypost_models.Tracker),
        ("event_tracker_updated", easypost_models.Event),
        ("event_batch_updated", easypost_models.Event),
        ("shipment_return", easypost_models.Shipment),
        ("error_shipment_invalid_params", easypost_models.ErrorResponse),
        ("error_tracker_not_found", easypost_models.ErrorResponse),
    ],
)
def test_fixtures_are_in_easyposts_format(name, model):
    model.model_validate(fixture(name))


def test_a_tracker_maps_to_our_events_oldest_first():
    result = tracker_to_result(fixture("tracker"))

    assert [(e.status, e.exception_reason) for e in result.events] == [
        (TrackingStatus.PENDING, None),
        (TrackingStatus.IN_TRANSIT, None),
        (TrackingStatus.EXCEPTION, ExceptionReason.WEATHER),
        (TrackingStatus.OUT_FOR_DELIVERY, None),
        (TrackingStatus.DELIVERED, None),
    ]
    sacramento = result.events[1]
    assert sacramento.occurred_at == datetime(2026, 11, 23, 2, 10, tzinfo=timezone(timedelta(hours=-8)))
    assert sacramento.location == "SACRAMENTO, CA 95813"
    assert sacramento.estimated_delivery == datetime(2026, 11, 26, tzinfo=UTC)
    assert sacramento.carrier_code == "in_transit/arrived_at_facility"
    assert result.events[0].location is None
    assert result.events[2].location == "OAKLAND, CA, US"
    assert result.estimated_delivery == datetime(2026, 11, 25, 15, 2, tzinfo=UTC)
    assert result.events[-1].estimated_delivery == result.estimated_delivery  # the tracker's EDD, on the last
    assert {e.tracking_number for e in result.events} == {"9400110898825022579493"}
    assert len({e.event_id for e in result.events}) == 5
    assert [e.event_id for e in tracker_to_result(fixture("tracker")).events] == [e.event_id for e in result.events]


def test_a_signed_tracker_event_gives_the_trackers_events(webhook_secret):
    body = json.dumps(fixture("event_tracker_updated")).encode()
    carrier = EasyPostCarrier("http://unused", "key", webhook_secret)

    events = carrier.parse_webhook(body, {"X-Hmac-Signature": sign(body, webhook_secret)})

    assert events == tracker_to_result(fixture("tracker")).events


def test_a_bought_return_shipment_gives_its_label():
    shipment = fixture("shipment_return")
    assert label_of(shipment) == (shipment["postage_label"]["label_url"], "9434600208303110266212")
    assert label_created_at(shipment) == datetime(2026, 11, 26, 10, 15, 1, tzinfo=UTC)
    assert label_of({**shipment, "postage_label": None}) is None


def test_easyposts_error_bodies_name_the_fields():
    request = httpx.Request("POST", "https://api.easypost.com/v2/shipments")
    refused = shipment_error(httpx.Response(422, json=fixture("error_shipment_invalid_params"), request=request), "it")
    assert str(refused) == (
        "EasyPost refused it (HTTP 422) (SHIPMENT.INVALID_PARAMS: Unable to create shipment, one or more "
        "parameters were invalid; customer address street1 must be present and a string; parcel.weight must be "
        "greater than 0)"
    )
    assert refused.retryable is False

    request = httpx.Request("GET", "https://api.easypost.com/v2/trackers/trk_1")
    unknown = tracker_error(httpx.Response(404, json=fixture("error_tracker_not_found"), request=request), "EZ1")
    assert str(unknown) == (
        "EasyPost does not know tracking code 'EZ1' (TRACKER.NOT_FOUND: The requested resource could not be found.)"
    )
    assert unknown.retryable is False and unknown.status_code == 404
