"""SeventeenTrackCarrier against 17TRACK's published formats and, over real sockets, against the sandbox's 17TRACK.

Fixtures in `fixtures/17track/` follow 17TRACK's Tracking API v2.2 reference (api.17track.net): one
`gettrackinfo` answer per main status, the TRACKING_UPDATED / TRACKING_STOPPED pushes, register answers and
an error body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from connectors.carriers import build_carriers
from connectors.carriers.base import WebhookError
from connectors.carriers.seventeentrack import (
    CARRIER_CODES,
    STAGE_MAP,
    STATUS_MAP,
    SUB_STATUS_MAP,
    SeventeenTrackCarrier,
    carrier_of,
    carrier_slug_for,
    map_stage,
    map_status,
    sign,
    track_to_result,
)
from connectors.carriers.seventeentrack import models as seventeen_models
from connectors.carriers.seventeentrack.error import response_error
from connectors.carriers.seventeentrack.webhook import push_of
from domain import ExceptionReason, TrackingStatus
from domain.carriers import CARRIERS
from sandbox import RunningSandbox
from tests.connectors import carrier_kit as kit

FIXTURES = Path(__file__).parent / "fixtures" / "17track"
KEY = "sandbox-17track-key"  # the key the sandbox's 17TRACK accepts (SandboxState default)
SECRET = "sandbox-17track-security-key"  # what the sandbox signs 17TRACK pushes with
NUMBER = "1Z2617V10397725789"
PACIFIC = timezone(timedelta(hours=-8))


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def parcel(name: str) -> dict[str, Any]:
    """The one parcel a `gettrackinfo` fixture accepted."""
    return fixture(f"gettrackinfo_{name}")["data"]["accepted"][0]


def unknown_count(code: str) -> float:
    labels = {"provider": "17track", "code": code}
    return REGISTRY.get_sample_value("aftercare_unknown_vendor_codes_total", labels) or 0


def signed(payload: Any, key: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"sign": sign(body, key)}


@pytest.fixture
async def carrier(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[SeventeenTrackCarrier]:
    client = SeventeenTrackCarrier(sandbox.seventeentrack_base_url, KEY, SECRET, http=http, timeout=2)
    yield client
    await client.aclose()


async def scan(control: httpx.AsyncClient, number: str, **fields: object) -> dict[str, Any]:
    fields.setdefault("deliver_webhook", False)
    resp = await control.post(f"/_sandbox/17track/tracks/{number}/scan", json=fields)
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- the vendor's format ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*sorted(FIXTURES.glob("gettrackinfo_*.json")), FIXTURES / "register.json"],
                         ids=lambda p: p.stem)  # fmt: skip
def test_api_answers_are_in_17tracks_format(path: Path) -> None:
    answer = seventeen_models.ApiResponse.model_validate_json(path.read_text())
    assert answer.code == 0 and answer.data is not None
    for accepted in answer.data.accepted:
        if accepted.track_info is not None:
            assert accepted.track_info.latest_status is not None


def test_pushes_and_errors_are_in_17tracks_format() -> None:
    updated = seventeen_models.WebhookEvent.model_validate(fixture("webhook_tracking_updated"))
    assert updated.event == "TRACKING_UPDATED"
    data = seventeen_models.TrackData.model_validate(updated.data)
    assert data.track_info and data.track_info.time_metrics and data.track_info.time_metrics.estimated_delivery_date
    assert data.track_info.time_metrics.estimated_delivery_date.from_ == "2026-11-24T09:00:00-08:00"
    stopped = seventeen_models.WebhookEvent.model_validate(fixture("webhook_tracking_stopped"))
    assert stopped.event == "TRACKING_STOPPED"
    error = seventeen_models.ApiResponse.model_validate(fixture("error_invalid_key"))
    assert error.code == -18010002 and error.data and error.data.errors[0].message == "The security key is invalid."


@pytest.mark.parametrize(
    ("name", "status", "reason", "events"),
    [
        ("notfound", None, None, 0),
        ("info_received", TrackingStatus.PENDING, None, 1),
        ("in_transit", TrackingStatus.IN_TRANSIT, None, 3),
        ("expired", TrackingStatus.EXPIRED, None, 2),  # the last scan, then 17TRACK's verdict
        ("available_for_pickup", TrackingStatus.AVAILABLE_FOR_PICKUP, None, 1),
        ("out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY, None, 4),
        ("delivery_failure", TrackingStatus.ATTEMPT_FAILED, None, 5),
        ("delivered", TrackingStatus.DELIVERED, None, 5),
        ("exception", TrackingStatus.EXCEPTION, ExceptionReason.DAMAGED, 4),
    ],
)
def test_each_status_family_maps_to_ours(name: str, status: TrackingStatus, reason: ExceptionReason, events: int):
    result = track_to_result(parcel(name))

    assert len(result.events) == events
    if status is not None:
        last = result.events[-1]
        assert (last.status, last.exception_reason) == (status, reason)
        assert last.carrier == "17track"
    assert [e.occurred_at for e in result.events] == sorted(e.occurred_at for e in result.events)


def test_a_delivered_parcel_gives_times_places_ids_and_its_estimate() -> None:
    result = track_to_result(parcel("delivered"))

    info, picked_up, arrived, delivered = result.events[0], result.events[1], result.events[2], result.events[-1]
    assert [e.status for e in result.events] == [
        TrackingStatus.PENDING, TrackingStatus.IN_TRANSIT, TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED,
    ]  # fmt: skip
    assert info.description == "Shipper created a label, UPS has not received the package yet."
    assert picked_up.carrier_code == "InTransit_PickedUp" and arrived.location == "Anderson, CA, US"
    assert delivered.occurred_at == datetime(2026, 11, 24, 16, 35, 22, tzinfo=PACIFIC)
    assert delivered.event_id.startswith("17track:") and len({e.event_id for e in result.events}) == 5
    # the end of 17TRACK's delivery window, on the latest scan
    assert delivered.estimated_delivery == result.estimated_delivery == datetime(2026, 11, 25, 20, tzinfo=PACIFIC)
    assert carrier_of(parcel("delivered")) == "ups"


def test_scans_without_a_sub_status_use_their_stage_then_the_parcels_status() -> None:
    data = parcel("exception")
    events = data["track_info"]["tracking"]["providers"][0]["events"]
    for event in events:
        event.pop("sub_status")
    events[-1]["stage"] = "InfoReceived"  # the oldest
    events[1]["stage"] = None  # a middle scan: neither sub-status nor stage

    result = track_to_result(data)

    assert result.events[0].status is TrackingStatus.PENDING  # by its stage
    assert result.events[-2].status is TrackingStatus.IN_TRANSIT  # nothing said: on its way
    latest = result.events[-1]  # by the parcel's latest_status
    assert (latest.status, latest.exception_reason) == (TrackingStatus.EXCEPTION, ExceptionReason.DAMAGED)
    assert latest.carrier_code == "Exception/Exception_Damage"


def test_17tracks_verdict_without_a_new_scan_is_one_more_event_heard_once() -> None:
    result = track_to_result(parcel("expired"))

    scan_, verdict = result.events
    assert scan_.status is TrackingStatus.IN_TRANSIT and scan_.carrier_code == "InTransit_Departure"
    assert (verdict.status, verdict.carrier_code) == (TrackingStatus.EXPIRED, "Expired/Expired_Other")
    assert verdict.occurred_at == scan_.occurred_at and verdict.event_id != scan_.event_id
    assert [e.event_id for e in track_to_result(parcel("expired")).events] == [scan_.event_id, verdict.event_id]


def test_an_estimate_window_without_an_end_uses_its_start() -> None:
    data = parcel("in_transit")
    data["track_info"]["time_metrics"]["estimated_delivery_date"]["to"] = None
    assert track_to_result(data).estimated_delivery == datetime(2026, 11, 24, 9, tzinfo=PACIFIC)


# --- the units table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), sorted(STATUS_MAP.items()))
def test_every_status_maps(status: str, expected: tuple) -> None:
    assert map_status(status, None) == expected


@pytest.mark.parametrize(("sub_status", "expected"), sorted(SUB_STATUS_MAP.items()))
def test_every_sub_status_maps(sub_status: str, expected: tuple) -> None:
    assert map_status(sub_status.split("_")[0] if "_" in sub_status else sub_status, sub_status) == expected
    assert map_status(None, sub_status) == expected


@pytest.mark.parametrize(("stage", "expected"), sorted(STAGE_MAP.items()))
def test_every_stage_maps(stage: str, expected: tuple) -> None:
    assert map_stage(stage) == expected


@pytest.mark.parametrize("status", sorted(STATUS_MAP))
def test_a_main_status_written_as_a_stage_maps_as_the_status(status: str) -> None:
    assert map_stage(status) == map_status(status, None)


def test_the_published_sub_statuses_are_all_in_the_table() -> None:
    published = {
        "NotFound_Other", "NotFound_InvalidCode", "InfoReceived", "InTransit_PickedUp", "InTransit_Other",
        "InTransit_Departure", "InTransit_Arrival", "InTransit_CustomsProcessing", "InTransit_CustomsReleased",
        "InTransit_CustomsRequiringInformation", "Expired_Other", "AvailableForPickup_Other", "OutForDelivery_Other",
        "DeliveryFailure_Other", "DeliveryFailure_NoBody", "DeliveryFailure_Security", "DeliveryFailure_Rejected",
        "DeliveryFailure_InvalidAddress", "Delivered_Other", "Exception_Other", "Exception_Returning",
        "Exception_Returned", "Exception_NoBody", "Exception_Security", "Exception_Damage", "Exception_Rejected",
        "Exception_Delayed", "Exception_Lost", "Exception_Destroyed", "Exception_Cancel",
    }  # fmt: skip
    assert set(SUB_STATUS_MAP) == published
    assert {s.split("_")[0] for s in published} == set(STATUS_MAP)


def test_delivered_stays_delivered_whatever_the_sub_status() -> None:
    assert map_status("Delivered", "Exception_Lost") == (TrackingStatus.DELIVERED, None)


def test_unknown_codes_read_as_unknown_are_counted_and_never_crash() -> None:
    before = unknown_count("Teleported"), unknown_count("InTransit_Teleported"), unknown_count("stage:Orbit")

    assert map_status("Teleported", None) == (TrackingStatus.UNKNOWN, None)
    assert map_status("InTransit", "InTransit_Teleported") == (TrackingStatus.IN_TRANSIT, None)
    assert map_stage("Orbit") is None
    data = parcel("in_transit")
    data["track_info"]["latest_status"] = {"status": "Teleported", "sub_status": None}
    newest = data["track_info"]["tracking"]["providers"][0]["events"][0]
    newest.update(sub_status=None, stage="Orbit")
    assert track_to_result(data).events[-1].status is TrackingStatus.UNKNOWN

    after = unknown_count("Teleported"), unknown_count("InTransit_Teleported"), unknown_count("stage:Orbit")
    assert after == (before[0] + 2, before[1] + 1, before[2] + 2)  # once per table lookup, never crashing


@pytest.mark.parametrize(("code", "slug"), sorted(CARRIER_CODES.items()))
def test_17tracks_carrier_keys_map_onto_our_carriers(code: int, slug: str) -> None:
    assert carrier_slug_for(code) == slug and slug in CARRIERS


def test_an_unlisted_carrier_key_is_named_by_its_provider() -> None:
    assert carrier_slug_for(190271, "Royal Mail") == "royal_mail"
    assert carrier_slug_for(None) == "other"


# --- webhook verification -------------------------------------------------------------------------------


def test_a_signed_push_gives_the_parcels_events() -> None:
    body, headers = signed(fixture("webhook_tracking_updated"))
    carrier = SeventeenTrackCarrier("http://127.0.0.1:9/17track", KEY, SECRET)

    events = carrier.parse_webhook(body, headers)

    assert [e.status for e in events][-1] is TrackingStatus.DELIVERED and len(events) == 5


def test_a_stopped_tracking_push_is_accepted_and_carries_no_scan() -> None:
    body, headers = signed(fixture("webhook_tracking_stopped"))
    assert SeventeenTrackCarrier("http://127.0.0.1:9/17track", KEY, SECRET).parse_webhook(body, headers) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no header", r"missing `sign` header \(17TRACK's signature\)"),
        ("wrong key", "bad signature in `sign` header"),
        ("changed body", "bad signature in `sign` header"),
        ("an hmac", "bad signature in `sign` header"),  # 17TRACK's is a plain hash of body + "/" + key
        ("no key here", "no 17TRACK security key is configured"),
    ],
)
def test_a_push_without_17tracks_signature_is_refused(change: str, message: str) -> None:
    body, headers = signed(fixture("webhook_tracking_updated"), key="another-key" if change == "wrong key" else SECRET)
    key = "" if change == "no key here" else SECRET
    if change == "no header":
        headers = {}
    elif change == "changed body":
        body = body.replace(b"DELIVERED", b"RETURNED")
    elif change == "an hmac":
        headers = {"sign": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    with pytest.raises(WebhookError, match=message):
        push_of(body, headers, key)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"event": "TRACKING_UPDATED", "data": {"number": "1Z', "malformed JSON body"),
        (b'"TRACKING_UPDATED"', "not a 17TRACK push: the body has no `event`"),
        (b'{"event": "BILLING", "data": {}}', "not a 17TRACK tracking event: 'BILLING'"),
        (b'{"event": "TRACKING_UPDATED", "data": []}', "TRACKING_UPDATED without a parcel: `data` is list"),
        (b'{"event": "TRACKING_UPDATED", "data": {"carrier": 100002}}', "parcel without a `number`"),
        (b'{"event": "TRACKING_UPDATED", "data": {"number": "1Z1"}}', "parcel without a `track_info` object"),
    ],
)
def test_malformed_or_truncated_pushes_are_refused_naming_the_problem(payload: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        push_of(payload, {"sign": sign(payload, SECRET)}, SECRET)


# --- over real sockets, against the sandbox's 17TRACK ----------------------------------------------------


async def test_a_parcel_is_registered_once_then_followed_by_poll(carrier, control) -> None:
    number = "1Z2617V10397700001"
    assert (await carrier.track(number, "ups")).events == []  # unknown: registered, nothing fetched yet
    shown = (await control.get(f"/_sandbox/17track/tracks/{number}")).json()
    assert shown["carrier"] == 100002  # our slug went as 17TRACK's key

    await scan(control, number, sub_status="InTransit_PickedUp", description="Origin Scan",
               time_iso="2026-11-21T16:36:47-08:00", city="Ontario", state="CA", country="US")  # fmt: skip
    await scan(control, number, sub_status="Delivered_Other", description="DELIVERED",
               time_iso="2026-11-24T16:35:22-08:00", location="GASQUET, CA, US",
               estimated_delivery_to="2026-11-25T20:00:00-08:00")  # fmt: skip
    result = await carrier.track(number)

    assert [e.status for e in result.events] == [TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED]
    assert result.events[0].location == "Ontario, CA, US" and result.events[-1].location == "GASQUET, CA, US"
    assert result.estimated_delivery == datetime(2026, 11, 25, 20, tzinfo=PACIFIC)


async def test_poll_and_push_give_the_same_event_ids(carrier, control) -> None:
    number = "1Z2617V10397700002"
    await scan(control, number, sub_status="InfoReceived", time_iso="2026-11-20T10:00:00Z")
    await scan(control, number, sub_status="OutForDelivery_Other", time_iso="2026-11-22T07:00:00Z",
               description="Out For Delivery Today", deliver_webhook=True)  # fmt: skip
    await kit.assert_poll_and_push_agree(carrier, control, number)


async def test_rate_limits_are_retryable_and_say_how_long_to_wait(carrier, control) -> None:
    await kit.fail_next(control, "17track", status_code=429, retry_after=3)
    err = await kit.carrier_error(carrier.track("1Z2617V10397700003"), "17TRACK rate limit reached tracking")
    assert (err.retryable, err.status_code, err.retry_after) == (True, 429, 3.0)
    assert (await carrier.track("1Z2617V10397700003")).events == []  # and then it works


@pytest.mark.parametrize("status", [500, 503])
async def test_outages_are_retryable(carrier, control, status: int) -> None:
    await kit.fail_next(control, "17track", status_code=status)
    err = await kit.carrier_error(carrier.track("1Z2617V10397700004"), f"17TRACK failed with HTTP {status}")
    assert err.retryable is True and err.status_code == status


async def test_timeouts_and_refused_connections_are_retryable(sandbox: RunningSandbox, control) -> None:
    await kit.assert_timeout_and_refusal_are_retryable(
        control, "17track",
        slow=SeventeenTrackCarrier(sandbox.seventeentrack_base_url, KEY, SECRET, timeout=0.2),
        down=SeventeenTrackCarrier(kit.dead_url("17track"), KEY, SECRET),
        track=lambda client: client.track("1Z2617V10397700005"),
        timed_out="17TRACK timed out", unreachable="17TRACK unreachable",
    )  # fmt: skip


async def test_a_wrong_key_or_base_url_is_not_retryable(sandbox: RunningSandbox, control, http) -> None:
    wrong_key = SeventeenTrackCarrier(sandbox.seventeentrack_base_url, "nope", SECRET, http=http)
    e = await kit.carrier_error(wrong_key.track("1Z2617V10397700006"),
                            r"17TRACK rejected the API key \(17token\) \(-18010002: The security")  # fmt: skip
    assert (e.retryable, e.status_code) == (False, 401)

    wrong_url = SeventeenTrackCarrier(f"{sandbox.http_url}/not-17track", KEY, SECRET, http=http)
    await kit.carrier_error(wrong_url.track("1Z2617V10397700006"),
                        r"17TRACK API not found at .* check the 17TRACK base URL")  # fmt: skip


def test_error_bodies_give_17tracks_words() -> None:
    request = httpx.Request("POST", "https://17track.example/track/v2.2/gettrackinfo")
    refused = response_error(httpx.Response(200, json=fixture("error_invalid_key"), request=request), "1", "tracking")
    assert str(refused) == "17TRACK rejected the API key (17token) (-18010002: The security key is invalid.)"
    assert refused.retryable is False


async def test_build_carriers_registers_17track(sandbox: RunningSandbox, control) -> None:
    carriers = build_carriers(
        sandbox.easypost_base_url, "k", "s", seventeentrack_base_url=sandbox.seventeentrack_base_url,
        seventeentrack_api_key=KEY, seventeentrack_webhook_secret=SECRET,
    )  # fmt: skip
    assert isinstance(carriers["17track"], SeventeenTrackCarrier)
    await scan(control, "1Z2617V10397700007", sub_status="InTransit_Arrival", time_iso="2026-11-21T10:00:00Z")
    assert (await carriers["17track"].track("1Z2617V10397700007")).events
    for client in carriers.values():
        await client.aclose()  # type: ignore[attr-defined]
