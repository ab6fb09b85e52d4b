"""The timeline read from saved histories (no server): why a customer got two delay alerts, waits folded,
the code path a patch took, and skips the journey decided itself taken from its state."""

from __future__ import annotations

from datetime import UTC, datetime

from aftercare.histories import from_bundle
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
