"""The timeline read from saved histories (no server): why a customer got two delay alerts, waits folded,
the code path a patch took, delays the journey detected itself, and skips the journey decided itself taken
from its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftercare.histories import RecordedRun, from_bundle
from api.timeline import build_timeline
from domain import Channel, MessageOutcome, MessageStatus, SkipReason, Step
from tests.conftest import CONVERTER
from tests.recording import HISTORIES
from workflows.models import JourneyState

UI = "http://127.0.0.1:8233/namespaces/default"


async def test_two_delay_alerts_are_two_exception_episodes() -> None:
    runs = from_bundle((HISTORIES / "delayed_carrier_exception.json").read_text())
    timeline = await build_timeline(runs[0].workflow_id, runs, CONVERTER, UI)
    kinds = [e.kind for e in timeline.entries]
    delays = [e.summary for e in timeline.entries if e.kind == "delay"]
    assert delays == ["delay detected: carrier_exception on EXC1001 (level 1)"] * 2
    # Each alert follows an exception scan: the second episode began after the parcel moved again.
    scans = [e.summary.split(" at ")[0] for e in timeline.entries if e.kind == "tracking"]
    assert scans == [
        "EXC1001: in_transit",
        "EXC1001: exception (weather)",
        "EXC1001: exception (weather)",
        "EXC1001: in_transit",
        "EXC1001: exception (weather)",
        "EXC1001: in_transit",
        "EXC1001: delivered",
    ]
    alerts = [e for e in timeline.entries if e.kind == "message" and e.summary.startswith("delay_alert")]
    assert len(alerts) == 2
    # Polls that found nothing are folded: far fewer entries than the child's hundreds of events.
    assert timeline.events > 900 and len(timeline.entries) < 60
    waits = [e for e in timeline.entries if e.kind == "timer" and e.detail.get("repeats")]
    assert waits and all(e.detail["repeats"] > 1 for e in waits)
    assert kinds[0] == "journey" and timeline.entries[-1].summary == "finished"
    assert all(e.link and e.link.startswith(f"{UI}/workflows/") for e in timeline.entries)


async def test_a_patch_is_shown_as_the_code_path_taken() -> None:
    async def patches(*path: str) -> set[tuple[str, str]]:
        runs = from_bundle(HISTORIES.joinpath(*path).read_text())
        timeline = await build_timeline(runs[0].workflow_id, runs, CONVERTER)
        return {(e.workflow_id.split("~")[0].split("-")[0], e.summary) for e in timeline.entries if e.kind == "patch"}

    assert await patches("exchange.json") == {
        ("order", "code path: patch tenant-ids"),
        ("shipment", "code path: patch findable-detail"),
        ("shipment", "code path: patch findable-from-start"),
    }
    assert await patches("before-tenant-ids", "exchange.json") == {("shipment", "code path: patch findable-detail")}
    assert await patches("before-findable-detail", "exchange.json") == set()


async def test_skips_the_journey_decided_come_from_its_state() -> None:
    runs = from_bundle((HISTORIES / "on_time.json").read_text())
    workflow_id = runs[0].workflow_id
    paused = MessageOutcome(
        idempotency_key=f"{workflow_id}:follow_up:email",
        step=Step.FOLLOW_UP,
        channel=Channel.EMAIL,
        status=MessageStatus.SKIPPED,
        skip_reason=SkipReason.PAUSED,
        at=datetime(2076, 1, 1, tzinfo=UTC),
    )
    state = JourneyState(workflow_id=workflow_id, merchant_id="acme", order_id="x", policy_hash="h", messages=[paused])
    timeline = await build_timeline(workflow_id, runs, CONVERTER, state=state)
    [entry] = [e for e in timeline.entries if "skipped" in e.summary]
    assert entry.summary == "follow_up by email skipped: paused (decided by the journey)"
    assert entry.event_id is None and entry.link is None


async def _final_state(runs: list[RecordedRun]) -> JourneyState:
    """What the journey answered at its end: the result of its last run."""
    [done] = [e for e in runs[0].history.events if e.HasField("workflow_execution_completed_event_attributes")]
    payloads = done.workflow_execution_completed_event_attributes.result.payloads
    [state] = await CONVERTER.decode(list(payloads), [JourneyState])
    return state


@pytest.mark.parametrize(
    "recording", [("delayed_fulfillment.json",), ("before-tenant-ids", "delayed_fulfillment.json")]
)
async def test_delays_the_journey_detects_itself_are_on_the_timeline(recording: tuple[str, ...]) -> None:
    runs = from_bundle(HISTORIES.joinpath(*recording).read_text())
    workflow_id = runs[0].workflow_id
    state = await _final_state(runs)
    own = [(d.level, d.detected_at) for d in state.delays if d.tracking_number is None]
    assert len(own) == 2  # the recording: no shipment by either rung of the fulfillment ladder

    for given in (None, state):  # the history alone tells it; with the state (as the API reads it), no twice
        timeline = await build_timeline(workflow_id, runs, CONVERTER, UI, state=given)
        delays = [e for e in timeline.entries if e.kind == "delay"]
        assert [e.summary for e in delays] == [
            "delay detected: fulfillment_late on the order (level 1)",
            "delay detected: fulfillment_late on the order (level 2)",
        ]
        assert [(e.detail["level"], e.at) for e in delays] == own  # when the journey detected each
        assert all(e.by == "the journey" and e.workflow_id == workflow_id for e in delays)
        assert all(e.link and e.event_id for e in delays)  # the fulfillment check that fired
        # in time order with the rest: each alert the customer got follows the delay it is about
        assert [e.at for e in timeline.entries] == sorted(e.at for e in timeline.entries)
        alerts = [e for e in timeline.entries if e.kind == "message" and e.summary.startswith("delay_alert")]
        assert len(alerts) == 2
        order = [e.summary for e in timeline.entries if e in delays or e in alerts]
        assert [s.split(" ")[0] for s in order] == ["delay", "delay_alert", "delay", "delay_alert"]


async def test_the_journeys_own_delays_the_history_cannot_show_come_from_its_state() -> None:
    """A state that knows a delay the history does not show (a journey whose check fired in a run not
    collected, say) adds it, marked; a fired check the state does not list (it found the order shipped in the
    same workflow task) is not a delay."""
    runs = from_bundle((HISTORIES / "delayed_fulfillment.json").read_text())
    workflow_id = runs[0].workflow_id
    state = await _final_state(runs)
    first = next(d for d in state.delays if d.level == 1)
    later = first.model_copy(update={"level": 3, "detected_at": first.detected_at + timedelta(days=30)})
    state = state.model_copy(update={"delays": [first, later]})
    timeline = await build_timeline(workflow_id, runs, CONVERTER, state=state)
    delays = [e for e in timeline.entries if e.kind == "delay"]
    assert [(e.summary, e.at, e.event_id) for e in delays] == [
        ("delay detected: fulfillment_late on the order (level 1)", first.detected_at, delays[0].event_id),
        ("delay detected: fulfillment_late on the order (level 3) (from the journey's state)", later.detected_at, None),
    ]
    assert delays[0].event_id is not None and all(e.by == "the journey" for e in delays)
