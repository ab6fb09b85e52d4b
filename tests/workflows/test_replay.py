"""Every saved history replays against the current workflow code, with the production converter and codec.

A change to journey code that running orders would trip over (a new activity, timer or upsert where the
history has none) fails here, in CI, before it reaches a worker. docs/CHANGING_JOURNEYS.md says what to do
instead: `workflow.patched`, and when to record a new history.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from aftercare.histories import from_bundle, replay
from tests.conftest import CONVERTER
from tests.recording import HISTORIES
from worker import build_replayer
from workflows.models import JourneyInput

# The scenarios the issue asks for, each recorded by its test (tests/recording.py): a missing file fails.
EXPECTED = {
    "on_time",
    "delayed_fulfillment",
    "delayed_carrier_exception",
    "split_shipment",
    "reorder",
    "long_tracking_continued_as_new",
    "refund",
    "exchange",
}


def saved() -> list[Path]:
    """The current recordings, and in sub-folders the ones kept from before a patch (what running journeys
    that started earlier look like)."""
    return sorted(HISTORIES.rglob("*.json"))


def test_every_expected_scenario_has_a_saved_history() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} >= EXPECTED


@pytest.mark.parametrize("path", saved(), ids=lambda p: str(p.relative_to(HISTORIES).with_suffix("")))
async def test_saved_history_replays_on_the_current_code(path: Path) -> None:
    runs = from_bundle(path.read_text(), source=str(path))
    assert runs and runs[0].history.events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    results = await replay(runs, build_replayer(CONVERTER))
    failures = {run_id: str(err) for run_id, err in results.replay_failures.items()}
    assert failures == {}, f"{path.name}: histories that no longer replay: {failures}"


@workflow.defn(name="OrderJourney", sandboxed=False)
class JourneyThatWaitsFirst:
    """The journey changed carelessly: a timer before the confirmation, where old histories have an activity."""

    @workflow.run
    async def run(self, inp: JourneyInput) -> None:
        await workflow.sleep(timedelta(minutes=5))


async def test_a_nondeterministic_change_is_caught() -> None:
    runs = from_bundle((HISTORIES / "on_time.json").read_text())
    assert runs
    changed = Replayer(workflows=[JourneyThatWaitsFirst], data_converter=CONVERTER)
    results = await replay(runs[:1], changed)
    [error] = results.replay_failures.values()
    assert "nondetermin" in str(error).lower()
