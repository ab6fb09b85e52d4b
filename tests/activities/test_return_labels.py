"""`create_return_label` with the real EasyPost connector against the sandbox: the label a customer prints,
one per request however often retried, and the errors the journey sees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.returns import ReturnActivities
from connectors.carriers import build_carriers
from connectors.carriers.base import CarrierClient, CarrierError
from domain import Address, PollResult, ReturnLabelRequest, TrackingEvent
from sandbox import RunningSandbox

CUSTOMER = Address(name="Ada Lovelace", line1="12 Analytical Way", city="Oakland", region="CA",
                   postal_code="94607", country="US")  # fmt: skip
MERCHANT = Address(name="Acme Returns", line1="1 Dock Street", city="Portland", region="OR",
                   postal_code="97201", country="US")  # fmt: skip


class TrackOnly:
    """A carrier that tracks parcels but makes no return labels."""

    name = "ups"

    async def track(self, tracking_number: str) -> PollResult:
        return PollResult(events=[])

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[TrackingEvent]:
        return []


@pytest.fixture
async def carriers(sandbox: RunningSandbox) -> AsyncIterator[dict[str, Any]]:
    built: dict[str, Any] = build_carriers(sandbox.easypost_base_url, "sandbox-key", "test-webhook-secret")
    sandbox.state.easypost_fail_next.clear()
    yield built
    for carrier in built.values():
        await carrier.aclose()


def request(key: str, **fields: Any) -> ReturnLabelRequest:
    values: dict[str, Any] = {"idempotency_key": key, "merchant_id": "acme", "order_id": "1001",
                              "carrier": "easypost", "from_address": CUSTOMER, "to_address": MERCHANT,
                              "items": {"li-1": 1}}  # fmt: skip
    values.update(fields)
    return ReturnLabelRequest.model_validate(values)


def shipments_for(sandbox: RunningSandbox, key: str) -> list[dict]:
    return [s for s in sandbox.state.shipments.values() if s["reference"] == key]


async def test_a_retried_request_gets_the_same_printable_label(carriers, sandbox):
    activities = ReturnActivities(carriers)
    key = "order-acme-1001:exchange:labels-1"

    label = await ActivityEnvironment().run(activities.create_return_label, request(key))
    again = await ActivityEnvironment().run(activities.create_return_label, request(key))

    assert again == label and label.carrier == "easypost"
    assert [s["tracking_code"] for s in shipments_for(sandbox, key)] == [label.tracking_number]
    async with httpx.AsyncClient() as http:
        printed = await http.get(label.label_url)
    assert printed.status_code == 200 and printed.headers["content-type"] == "image/png"


async def test_an_address_easypost_refuses_is_not_retried(carriers, sandbox):
    nowhere = MERCHANT.model_copy(update={"line1": None})

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            ReturnActivities(carriers).create_return_label, request("labels-bad-address", to_address=nowhere)
        )

    assert caught.value.type == "ReturnLabelRefused" and caught.value.non_retryable is True
    assert "merchant address street1 must be present" in caught.value.message
    assert caught.value.details == ({"status_code": 422},)
    assert shipments_for(sandbox, "labels-bad-address") == []


async def test_an_outage_is_raised_for_temporal_to_retry(carriers, sandbox):
    sandbox.state.easypost_fail_next.append({"status_code": 503, "count": 1, "delay_seconds": 0})

    with pytest.raises(CarrierError) as caught:
        await ActivityEnvironment().run(ReturnActivities(carriers).create_return_label, request("labels-outage"))

    assert caught.value.retryable is True and caught.value.status_code == 503


@pytest.mark.parametrize(
    ("carrier", "words"),
    [
        ("dhl", "no carrier 'dhl' in this worker for order 1001; carriers that make return labels: ['easypost']"),
        ("ups", "no return labels from carrier 'ups' in this worker for order 1001; carriers that make return "
                "labels: ['easypost'] (set the policy's returns.label_carrier to one)"),
    ],
)  # fmt: skip
async def test_a_carrier_that_cannot_make_the_label_is_named_with_those_that_can(carriers, carrier, words):
    known: dict[str, CarrierClient] = {**carriers, "ups": TrackOnly()}

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            ReturnActivities(known).create_return_label, request("labels-unknown", carrier=carrier)
        )

    assert caught.value.type == "UnknownCarrier" and caught.value.non_retryable is True
    assert caught.value.message.startswith(words)
