"""The tracking child's one state model: what it remembers, and the shape recorded histories carry it in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import Payload

from aftercare.histories import from_bundle
from tests.conftest import CONVERTER
from tests.recording import HISTORIES
from workflows.models import ParcelState, TrackingInput, TrackingMemory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def memory(**fields: object) -> TrackingMemory:
    return TrackingMemory.model_validate(
        {
            "parcel": ParcelState(carrier="ups", tracking_number="1Z1"),
            "seen_event_ids": [],
            "poll_interval_seconds": 7200.0,
            "next_poll_at": T0,
            "alerted": [],
            **fields,
        }
    )


def test_seen_scans_and_alerted_episodes_are_remembered_once_in_sorted_order() -> None:
    m = memory(seen_event_ids=["e3", "e1", "e3"], alerted=["stalled@b", "pickup_late"])
    assert m.seen_event_ids == ["e1", "e3"]  # as carried before: sorted, no repeats
    assert m.see("e2") and not m.see("e2") and not m.see("e1")
    assert m.seen_event_ids == ["e1", "e2", "e3"]
    assert m.has_seen("e3") and not m.has_seen("e4")
    assert m.alert_once("edd_missed@x") and not m.alert_once("pickup_late")
    assert m.alerted == ["edd_missed@x", "pickup_late", "stalled@b"]
    assert m.has_alerted("stalled@b") and not m.has_alerted("stalled@c")
    assert m.poll_interval == timedelta(hours=2)


async def test_every_carry_in_the_saved_histories_decodes_and_encodes_back_the_same() -> None:
    """Continue-as-new hands the model over as is: a carry recorded by older code must read back unchanged."""
    codec = CONVERTER.payload_codec
    assert codec is not None
    carries = 0
    for path in sorted(HISTORIES.rglob("*.json")):
        for run in from_bundle(path.read_text(), source=str(path)):
            started = run.history.events[0].workflow_execution_started_event_attributes
            if started.workflow_type.name != "ShipmentTracking":
                continue
            payloads: list[Payload] = await codec.decode(started.input.payloads)
            [inp] = CONVERTER.payload_converter.from_payloads(payloads, [TrackingInput])
            if inp.carry is None:
                continue
            carries += 1
            assert isinstance(inp.carry, TrackingMemory)
            [again] = CONVERTER.payload_converter.to_payloads([inp])
            recorded, reencoded = json.loads(payloads[0].data)["carry"], json.loads(again.data)["carry"]
            assert reencoded.keys() == recorded.keys(), path.name
            # The parcel gained fields since some recordings (read with their defaults): the rest is the same.
            assert {k: v for k, v in reencoded.pop("parcel").items() if k in recorded["parcel"]} == recorded.pop(
                "parcel"
            ), path.name
            assert reencoded == recorded, path.name
    assert carries >= 3
