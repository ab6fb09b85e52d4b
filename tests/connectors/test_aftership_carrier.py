"""AfterShipCarrier against the sandbox's AfterShip over real sockets: registering, reading, outages, pushes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from connectors.carriers import build_carriers
from connectors.carriers.aftership import AfterShipCarrier
from connectors.carriers.base import CarrierError
from domain import ExceptionReason, TrackingStatus
from sandbox import RunningSandbox

KEY = "sandbox-key"  # the AfterShip key the sandbox accepts by default
UPS = "1Z999AA10123456784"


@pytest.fixture
async def carrier(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[AfterShipCarrier]:
    secret = sandbox.state.aftership_webhook_secret  # what the sandbox's AfterShip signs its pushes with
    client = AfterShipCarrier(f"{sandbox.http_url}/aftership", KEY, secret, http=http, timeout=2, backoff=0.01)
    yield client
    await client.aclose()


async def checkpoint(control: httpx.AsyncClient, slug: str, number: str, **fields: object) -> dict:
    fields.setdefault("deliver_webhook", False)
    resp = await control.post(f"/_sandbox/aftership/trackings/{slug}/{number}/checkpoint", json=fields)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def fail_next(control: httpx.AsyncClient, **fields: object) -> None:
    (await control.post("/_sandbox/aftership/fail-next", json=fields)).raise_for_status()


async def test_a_new_parcel_is_registered_then_read_with_its_checkpoints(carrier, control):
    first = await carrier.track(UPS, carrier="ups")
    assert first.events == []  # registered (so AfterShip pushes from now on), nothing scanned yet
    assert (await control.get(f"/_sandbox/aftership/trackings/ups/{UPS}")).status_code == 200
    await checkpoint(control, "ups", UPS, tag="InTransit", subtag="InTransit_002", message="Pickup Scan",
                     city="Louisville", state="KY", checkpoint_time="2026-11-20T18:03:00-05:00",
                     expected_delivery="2026-11-25")  # fmt: skip
    await checkpoint(
        control, "ups", UPS, tag="Exception", subtag="Exception_004", checkpoint_time="2026-11-21T10:00:00Z"
    )

    result = await carrier.track(UPS, carrier="ups")

    assert [(e.status, e.exception_reason) for e in result.events] == [
        (TrackingStatus.IN_TRANSIT, None),
        (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    ]
    assert result.events[0].location == "Louisville, KY" and result.estimated_delivery is not None
    assert result.estimated_delivery.date().isoformat() == "2026-11-25"


async def test_registering_a_parcel_aftership_already_has_reads_it_instead(
    carrier, control, sandbox, webhook_secret, http
):
    await checkpoint(control, "ups", UPS, tag="InTransit", checkpoint_time="2026-11-20T18:03:00Z")
    fresh = AfterShipCarrier(f"{sandbox.http_url}/aftership", KEY, webhook_secret, http=http, timeout=2)
    # no carrier named: AfterShip detects UPS from the number, answers 4003, and the tracking is read
    result = await fresh.track(UPS)
    assert [e.status for e in result.events] == [TrackingStatus.IN_TRANSIT]


async def test_a_number_aftership_cannot_place_is_a_final_refusal(carrier, control):
    with pytest.raises(CarrierError, match="4012") as caught:
        await carrier.track("NOTAREALNUMBER")
    assert not caught.value.retryable


async def test_a_429_with_a_short_retry_after_is_waited_out(carrier, control):
    await checkpoint(control, "ups", UPS, tag="Delivered", checkpoint_time="2026-11-24T13:47:00Z")
    await fail_next(control, status_code=429, retry_after=1, count=1)
    started = time.monotonic()
    result = await carrier.track(UPS, carrier="ups")
    assert time.monotonic() - started >= 0.9  # AfterShip said one second
    assert [e.status for e in result.events] == [TrackingStatus.DELIVERED]


async def test_a_429_asking_for_a_long_wait_is_handed_to_the_activity_with_the_wait(carrier, control):
    await fail_next(control, status_code=429, retry_after=120, count=1)
    with pytest.raises(CarrierError, match="rate limit") as caught:
        await carrier.track(UPS, carrier="ups")
    assert caught.value.retryable and caught.value.retry_after == 120 and caught.value.status_code == 429


async def test_a_passing_outage_is_retried_and_a_lasting_one_is_a_retryable_error(carrier, control):
    await checkpoint(control, "ups", UPS, tag="InTransit", checkpoint_time="2026-11-20T18:03:00Z")
    await fail_next(control, status_code=503, count=2)
    assert len((await carrier.track(UPS, carrier="ups")).events) == 1  # third attempt answers
    await fail_next(control, status_code=500, count=5)
    with pytest.raises(CarrierError, match="AfterShip failed with HTTP 500") as caught:
        await carrier.track(UPS, carrier="ups")
    assert caught.value.retryable


async def test_a_slow_answer_times_out_as_retryable(sandbox, webhook_secret, http, control):
    slow = AfterShipCarrier(f"{sandbox.http_url}/aftership", KEY, webhook_secret, http=http, timeout=0.2, attempts=1)
    await fail_next(control, status_code=503, delay_seconds=1)
    with pytest.raises(CarrierError, match="timed out") as caught:
        await slow.track(UPS, carrier="ups")
    assert caught.value.retryable


async def test_a_wrong_key_a_wrong_base_url_and_a_closed_port_say_so(sandbox, webhook_secret, http, control):
    wrong_key = AfterShipCarrier(f"{sandbox.http_url}/aftership", "nope", webhook_secret, http=http)
    with pytest.raises(CarrierError, match="rejected the API key") as caught:
        await wrong_key.track(UPS, carrier="ups")
    assert not caught.value.retryable
    wrong_url = AfterShipCarrier(f"{sandbox.http_url}/not-aftership", KEY, webhook_secret, http=http)
    with pytest.raises(CarrierError, match="check the AfterShip base URL"):
        await wrong_url.track(UPS, carrier="ups")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = AfterShipCarrier(f"http://127.0.0.1:{port}/aftership", KEY, webhook_secret, http=http, backoff=0.01)
    with pytest.raises(CarrierError, match="unreachable") as caught:
        await closed.track(UPS, carrier="ups")
    assert caught.value.retryable


async def test_the_sandbox_pushes_signed_webhooks_the_connector_accepts(carrier, control):
    await checkpoint(control, "royal-mail", "RM123456785GB", tag="Delivered", subtag="Delivered_003",
                     checkpoint_time="2026-11-24T11:00:00+00:00", deliver_webhook=True)  # fmt: skip
    [received] = (await control.get("/_sandbox/easypost/webhook-sink")).json()
    body, headers = received["body"].encode(), received["headers"]
    assert json.loads(body)["event"] == "tracking_update" and "aftership-hmac-sha256" in headers
    [delivered] = carrier.parse_webhook(body, headers)
    assert delivered.status is TrackingStatus.DELIVERED and delivered.tracking_number == "RM123456785GB"
    assert carrier.pushed_carriers(body) == {"RM123456785GB": "royal_mail"}
    [delivery] = (await control.get("/_sandbox/aftership/webhooks")).json()
    assert delivery["delivered"] and delivery["tracking_code"] == "RM123456785GB"


def test_the_registry_builds_aftership_beside_easypost() -> None:
    carriers = build_carriers("http://e", "k", "s", aftership_base_url="http://a/aftership", aftership_api_key="k")
    assert sorted(carriers) == ["aftership", "easypost"]
