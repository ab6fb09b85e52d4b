"""ShippoCarrier against Shippo's published formats and, over real sockets, against the sandbox's Shippo.

Fixtures in `fixtures/shippo/` follow Shippo's API reference (docs.goshippo.com: "Tracking Status", the
`track_updated` webhook): one Track per status family, the webhook envelope, error bodies.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from connectors.carriers import build_carriers
from connectors.carriers.base import CarrierError, QueryVerifiedWebhooks, WebhookError
from connectors.carriers.shippo import (
    CARRIER_SLUGS,
    STATUS_MAP,
    SUBSTATUS_MAP,
    ShippoCarrier,
    carrier_of,
    carrier_slug_for,
    map_status,
    sign,
    track_to_result,
)
from connectors.carriers.shippo import models as shippo_models
from connectors.carriers.shippo.error import track_error
from connectors.carriers.shippo.units import guess_carrier_token
from connectors.carriers.shippo.webhook import track_of
from domain import ExceptionReason, TrackingStatus
from domain.carriers import CARRIERS
from sandbox import RunningSandbox
from tests.connectors import carrier_kit as kit

FIXTURES = Path(__file__).parent / "fixtures" / "shippo"
KEY = "shippo_test_sandbox"  # the key the sandbox's Shippo accepts (SandboxState default)
SECRET = "sandbox-shippo-webhook-secret"  # what the sandbox signs Shippo pushes with
NUMBER = "9205590164917312751089"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def unknown_count(code: str) -> float:
    return REGISTRY.get_sample_value("aftercare_unknown_vendor_codes_total", {"provider": "shippo", "code": code}) or 0


@pytest.fixture
async def carrier(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[ShippoCarrier]:
    client = ShippoCarrier(sandbox.shippo_base_url, KEY, SECRET, http=http, timeout=2)
    yield client
    await client.aclose()


async def scan(control: httpx.AsyncClient, number: str, carrier: str = "usps", **fields: object) -> dict[str, Any]:
    fields.setdefault("deliver_webhook", False)
    resp = await control.post(f"/_sandbox/shippo/tracks/{carrier}/{number}/scan", json=fields)
    assert resp.status_code == 200, resp.text
    return resp.json()


def signed(payload: Any, secret: str = SECRET, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Shippo-Auth-Signature": sign(body, secret, at)}


# --- the vendor's format ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("track_*.json")), ids=lambda p: p.stem)
def test_track_fixtures_are_in_shippos_format(path: Path) -> None:
    track = shippo_models.Track.model_validate_json(path.read_text())
    assert track.tracking_number and track.carrier == "usps"
    assert track.tracking_status is not None


def test_webhook_and_error_fixtures_are_in_shippos_format() -> None:
    event = shippo_models.WebhookEvent.model_validate(fixture("webhook_track_updated"))
    assert event.event == "track_updated"
    shippo_models.Track.model_validate(event.data)
    assert shippo_models.ErrorResponse.model_validate(fixture("error_token")).detail == "Token does not exist"


@pytest.mark.parametrize(
    ("name", "status", "reason", "events"),
    [
        ("track_pre_transit", TrackingStatus.PENDING, None, 1),
        ("track_transit", TrackingStatus.IN_TRANSIT, None, 3),
        ("track_delivered", TrackingStatus.DELIVERED, None, 5),
        ("track_returned", TrackingStatus.RETURNED, None, 5),
        ("track_failure", TrackingStatus.EXCEPTION, ExceptionReason.LOST, 4),
        ("track_unknown", None, None, 0),
    ],
)
def test_each_status_family_maps_to_ours(name: str, status: TrackingStatus, reason: ExceptionReason, events: int):
    result = track_to_result(fixture(name))

    assert len(result.events) == events
    if status is not None:
        last = result.events[-1]
        assert (last.status, last.exception_reason) == (status, reason)
        assert last.carrier == "shippo" and last.tracking_number == NUMBER
    assert [e.occurred_at for e in result.events] == sorted(e.occurred_at for e in result.events)


def test_a_delivered_track_gives_times_places_ids_and_both_estimates() -> None:
    result = track_to_result(fixture("track_delivered"))

    first, returned_address, delivered = result.events[0], result.events[1], result.events[-1]
    assert first.event_id == "shippo:0bb3e1a7c5a94a1bb6f2b1b4f3a70001"
    assert first.status is TrackingStatus.PENDING and first.carrier_code == "PRE_TRANSIT/information_received"
    assert returned_address.location == "Las Vegas, NV, US 89118"
    assert delivered.occurred_at == datetime(2026, 11, 24, 22, 35, tzinfo=UTC)
    assert delivered.description.startswith("Your item was delivered in or at the mailbox")
    # the first scan carries Shippo's original estimate, the latest its current one: a revision the journey sees
    assert first.estimated_delivery == datetime(2026, 11, 24, tzinfo=UTC)
    assert delivered.estimated_delivery == result.estimated_delivery == datetime(2026, 11, 26, tzinfo=UTC)
    assert carrier_of(fixture("track_delivered")) == "usps"


def test_an_address_problem_before_a_return_carries_its_reason() -> None:
    events = track_to_result(fixture("track_returned")).events
    assert (events[-2].status, events[-2].exception_reason) == (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS)


# --- the units table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "ours"), sorted(STATUS_MAP.items()))
def test_every_status_maps(status: str, ours: TrackingStatus) -> None:
    mapped, reason = map_status(status, None)
    assert mapped is ours
    assert reason is (ExceptionReason.OTHER if ours is TrackingStatus.EXCEPTION else None)


@pytest.mark.parametrize(("code", "expected"), sorted(SUBSTATUS_MAP.items()))
def test_every_substatus_maps_under_a_status_it_refines(code: str, expected: tuple) -> None:
    for status in ("PRE_TRANSIT", "TRANSIT", "FAILURE", "UNKNOWN"):
        assert map_status(status, code) == expected


@pytest.mark.parametrize("code", ["package_damaged", "out_for_delivery", "other", None])
def test_settled_statuses_keep_their_meaning_whatever_the_substatus(code: str | None) -> None:
    assert map_status("DELIVERED", code) == (TrackingStatus.DELIVERED, None)
    assert map_status("RETURNED", code) == (TrackingStatus.RETURNED, None)


def test_other_falls_back_to_the_status() -> None:
    assert map_status("TRANSIT", "other") == (TrackingStatus.IN_TRANSIT, None)
    assert map_status("FAILURE", "other") == (TrackingStatus.EXCEPTION, ExceptionReason.OTHER)


def test_unknown_codes_read_as_unknown_are_counted_and_never_crash() -> None:
    before_status, before_sub = unknown_count("LOST_IN_SPACE"), unknown_count("teleported")

    assert map_status("LOST_IN_SPACE", None) == (TrackingStatus.UNKNOWN, None)
    assert map_status("TRANSIT", "teleported") == (TrackingStatus.IN_TRANSIT, None)
    track = fixture("track_transit")
    track["tracking_history"][-1].update(status="LOST_IN_SPACE", substatus=None)
    assert track_to_result(track).events[-1].status is TrackingStatus.UNKNOWN

    assert unknown_count("LOST_IN_SPACE") == before_status + 2
    assert unknown_count("teleported") == before_sub + 1


@pytest.mark.parametrize(("token", "slug"), sorted(CARRIER_SLUGS.items()))
def test_carrier_tokens_map_onto_our_carriers(token: str, slug: str) -> None:
    assert carrier_slug_for(token) == slug


@pytest.mark.parametrize("token", ["usps", "ups", "fedex", "dhl_express", "royal_mail", "canada_post", "ontrac"])
def test_tokens_named_like_our_slugs_are_ours(token: str) -> None:
    assert carrier_slug_for(token) == token and token in CARRIERS


@pytest.mark.parametrize(
    ("number", "token"),
    [("1Z2617V10397725789", "ups"), ("9205590164917312751089", "usps"), ("AB123456789GB", "royal_mail"),
     ("123456789012", "fedex"), ("1234567890", "dhl_express"), ("ZZ-NOT-A-SHAPE", None)],
)  # fmt: skip
def test_a_numbers_shape_names_its_carrier_when_nobody_did(number: str, token: str | None) -> None:
    assert guess_carrier_token(number) == token


# --- webhook verification -------------------------------------------------------------------------------


def test_a_signed_push_gives_the_tracks_events() -> None:
    body, headers = signed(fixture("webhook_track_updated"))
    carrier = ShippoCarrier("http://127.0.0.1:9/shippo", KEY, SECRET)

    events = carrier.parse_webhook(body, headers)

    assert [e.status for e in events][-2:] == [TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED]
    assert isinstance(carrier, QueryVerifiedWebhooks)


def test_a_token_in_the_url_stands_for_the_signature() -> None:
    body = json.dumps(fixture("webhook_track_updated")).encode()
    carrier = ShippoCarrier("http://127.0.0.1:9/shippo", KEY, SECRET)

    assert carrier.parse_webhook_with_query(body, {}, {"token": SECRET})
    with pytest.raises(WebhookError, match=r"wrong \?token="):
        carrier.parse_webhook_with_query(body, {}, {"token": "guess"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no header", r"missing Shippo-Auth-Signature header \(or \?token= in the webhook URL\)"),
        ("wrong secret", "bad signature in Shippo-Auth-Signature header"),
        ("changed body", "bad signature in Shippo-Auth-Signature header"),
        ("stale", "stale signature in Shippo-Auth-Signature header"),
        ("malformed", "malformed Shippo-Auth-Signature header"),
        ("no secret here", "no Shippo webhook secret is configured"),
    ],
)
def test_a_push_that_does_not_prove_itself_is_refused(change: str, message: str) -> None:
    payload = fixture("webhook_track_updated")
    body, headers = signed(payload, secret="another-secret" if change == "wrong secret" else SECRET)
    secret = "" if change == "no secret here" else SECRET
    if change == "no header":
        headers = {}
    elif change == "changed body":
        body = body.replace(b"DELIVERED", b"RETURNED")
    elif change == "stale":
        body, headers = signed(payload, at=int(time.time()) - 3600)
    elif change == "malformed":
        headers = {"Shippo-Auth-Signature": "v1=abc"}
    with pytest.raises(WebhookError, match=message):
        track_of(body, headers, secret)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"event": "track_updated", "data": {"tracking_n', "malformed JSON body"),
        (b"[1, 2]", "not a Shippo webhook: the body has no `event`"),
        (b'{"event": "transaction_created", "data": {}}', "not a track_updated event: 'transaction_created'"),
        (b'{"event": "track_updated", "data": "9205"}', "track_updated without a Track: `data` is str"),
        (b'{"event": "track_updated", "data": {"carrier": "usps"}}', "Track without a `tracking_number`"),
        (b'{"event": "track_updated", "data": {"tracking_number": "1", "tracking_history": {}}}', "is not a list"),
    ],
)
def test_malformed_or_truncated_pushes_are_refused_naming_the_problem(payload: bytes, message: str) -> None:
    headers = {"Shippo-Auth-Signature": sign(payload, SECRET)}
    with pytest.raises(WebhookError, match=message):
        track_of(payload, headers, SECRET)


# --- over real sockets, against the sandbox's Shippo -----------------------------------------------------


async def test_a_parcel_journey_by_poll(carrier: ShippoCarrier, control: httpx.AsyncClient) -> None:
    number = "9205590164917312750001"
    await scan(control, number, status="PRE_TRANSIT", substatus="information_received",
               status_date="2026-11-20T15:02:00Z", city="Reno", state="NV", eta="2026-11-24T00:00:00Z")  # fmt: skip
    await scan(control, number, status="TRANSIT", substatus="package_departed", status_details="Departed",
               status_date="2026-11-21T09:00:00Z", city="Sacramento", eta="2026-11-25T00:00:00Z")  # fmt: skip
    await scan(control, number, status="DELIVERED", substatus="delivered", status_details="Delivered, Front Door",
               status_date="2026-11-25T15:02:00Z", city="Oakland", state="CA", zip="94607")  # fmt: skip

    result = await carrier.track(number, "usps")

    assert [e.status for e in result.events] == [
        TrackingStatus.PENDING, TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED
    ]  # fmt: skip
    assert result.events[-1].location == "Oakland, CA 94607"
    assert result.events[0].estimated_delivery == datetime(2026, 11, 24, tzinfo=UTC)  # the original estimate
    assert result.estimated_delivery == datetime(2026, 11, 25, tzinfo=UTC)  # revised
    # registered once, read again with GET afterwards
    assert (await carrier.track(number)).events == result.events


async def test_poll_and_push_give_the_same_event_ids(carrier: ShippoCarrier, control: httpx.AsyncClient) -> None:
    number = "9205590164917312750002"
    await scan(control, number, status="TRANSIT", substatus="package_accepted", status_date="2026-11-21T01:00:00Z")
    await scan(control, number, status="TRANSIT", substatus="out_for_delivery", status_date="2026-11-22T07:00:00Z",
               deliver_webhook=True)  # fmt: skip
    await kit.assert_poll_and_push_agree(carrier, control, number)


async def test_rate_limits_are_retryable_and_say_how_long_to_wait(carrier, control) -> None:
    await kit.fail_next(control, "shippo", status_code=429, retry_after=7)
    err = await kit.carrier_error(
        carrier.track("9205590164917312750003", "usps"), "Shippo rate limit reached registering"
    )
    assert (err.retryable, err.status_code, err.retry_after) == (True, 429, 7.0)
    assert "Request was throttled" in str(err)
    # and once Shippo lets us in again, the same call works
    assert (await carrier.track("9205590164917312750003", "usps")).events == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_outages_are_retryable(carrier, control, status: int) -> None:
    await kit.fail_next(control, "shippo", status_code=status)
    err = await kit.carrier_error(carrier.track("9205590164917312750004", "usps"), f"Shippo failed with HTTP {status}")
    assert err.retryable is True and err.status_code == status


async def test_timeouts_and_refused_connections_are_retryable(sandbox: RunningSandbox, control) -> None:
    await kit.assert_timeout_and_refusal_are_retryable(
        control, "shippo",
        slow=ShippoCarrier(sandbox.shippo_base_url, KEY, SECRET, timeout=0.2),
        down=ShippoCarrier(kit.dead_url("shippo"), KEY, SECRET),
        track=lambda client: client.track("9205590164917312750005", "usps"),
        timed_out="Shippo timed out", unreachable="Shippo unreachable",
    )  # fmt: skip


async def test_a_wrong_token_or_base_url_is_not_retryable(sandbox: RunningSandbox, control, http) -> None:
    wrong_key = ShippoCarrier(sandbox.shippo_base_url, "shippo_test_nope", SECRET, http=http)
    err = await kit.carrier_error(wrong_key.track("9205590164917312750006", "usps"),
                              r"Shippo rejected the API token \(Token does not exist\)")  # fmt: skip
    assert (err.retryable, err.status_code) == (False, 401)

    wrong_url = ShippoCarrier(f"{sandbox.http_url}/not-shippo", KEY, SECRET, http=http)
    await kit.carrier_error(wrong_url.track("9205590164917312750006", "usps"),
                        r"Shippo API not found at .* check the Shippo base URL")  # fmt: skip


async def test_a_parcel_of_no_known_carrier_is_refused_saying_why(carrier: ShippoCarrier) -> None:
    with pytest.raises(CarrierError, match="Shippo needs the carrier to track ZZ-NOT-A-SHAPE") as caught:
        await carrier.track("ZZ-NOT-A-SHAPE")
    assert caught.value.retryable is False


async def test_a_number_shippo_cannot_take_is_not_retryable(carrier: ShippoCarrier) -> None:
    with pytest.raises(CarrierError, match=r"Shippo cannot track 'x y' \(HTTP 400\)") as caught:
        await carrier.track("x y", "usps")
    assert caught.value.retryable is False


def test_error_bodies_give_shippos_words() -> None:
    request = httpx.Request("GET", "https://shippo.example/tracks/usps/1")
    throttled = httpx.Response(429, json=fixture("error_throttled"), headers={"Retry-After": "2"}, request=request)
    fields = httpx.Response(400, json=fixture("error_fields"), request=request)

    assert track_error(throttled, "1", "tracking").retry_after == 2.0
    assert str(track_error(fields, "1", "tracking")) == (
        "Shippo cannot track '1' (HTTP 400) (carrier: \"ups_ground\" is not a valid choice.)"
    )


async def test_build_carriers_registers_shippo(sandbox: RunningSandbox, control) -> None:
    carriers = build_carriers(
        sandbox.easypost_base_url, "k", "s", shippo_base_url=sandbox.shippo_base_url, shippo_api_key=KEY,
        shippo_webhook_secret=SECRET,
    )  # fmt: skip
    assert isinstance(carriers["shippo"], ShippoCarrier)
    await scan(control, "9205590164917312750007", status="TRANSIT", substatus="package_arrived")
    assert (await carriers["shippo"].track("9205590164917312750007", "usps")).events
    for client in carriers.values():
        await client.aclose()  # type: ignore[attr-defined]
