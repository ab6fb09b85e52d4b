"""An order's whole Temporal history: the journey's runs and its tracking children's, in one bundle.

A journey is more than one workflow: each parcel has a `ShipmentTracking` child, and a long-tracked
parcel continues-as-new into further runs. Bug reports, replay tests and the timeline all need the lot,
so this module walks it once: the journey's runs (newest back to first, by `continued_execution_run_id`),
then every child its histories started, each with their own runs.

The bundle is JSON: `{"format": 1, "workflow_id": ..., "runs": [{"workflow_id", "run_id", "history"}]}`,
where `history` is Temporal's own history JSON (what the Web UI downloads and `WorkflowHistory.from_json`
reads). Payloads stay as Temporal stores them, encrypted: a bundle holds no customer data in clear.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResults

BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class RecordedRun:
    workflow_id: str
    run_id: str
    history: WorkflowHistory


async def runs_of(client: Client, workflow_id: str) -> list[RecordedRun]:
    """Every run of one workflow id's continue-as-new chain, first run first."""
    chain: list[RecordedRun] = []
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        chain.append(RecordedRun(workflow_id, run_id, history))
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
    return list(reversed(chain))


def children_started(history: WorkflowHistory) -> list[str]:
    """Child workflow ids a history started, in order, each once."""
    ids = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    return list(dict.fromkeys(ids))


async def collect(client: Client, workflow_id: str) -> list[RecordedRun]:
    """The journey's runs, then each child's runs (and theirs), in the order they were started."""
    collected: list[RecordedRun] = []
    pending = [workflow_id]
    seen: set[str] = set()
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        for run in await runs_of(client, current):
            collected.append(run)
            pending.extend(children_started(run.history))
    return collected


def to_bundle(workflow_id: str, runs: Sequence[RecordedRun]) -> str:
    body = {
        "format": BUNDLE_FORMAT,
        "workflow_id": workflow_id,
        "runs": [
            {"workflow_id": r.workflow_id, "run_id": r.run_id, "history": json.loads(r.history.to_json())} for r in runs
        ],
    }
    return json.dumps(body, separators=(",", ":")) + "\n"


def from_bundle(text: str, source: str = "bundle") -> list[RecordedRun]:
    """Read a bundle back; a file that is not one is refused naming what is missing."""
    try:
        body: dict[str, Any] = json.loads(text)
    except ValueError as err:
        raise ValueError(f"{source}: not JSON ({err})") from err
    if not isinstance(body, dict) or body.get("format") != BUNDLE_FORMAT or not isinstance(body.get("runs"), list):
        raise ValueError(f"{source}: not an Aftercare history bundle (expected format {BUNDLE_FORMAT} with 'runs')")
    runs = []
    for index, entry in enumerate(body["runs"]):
        try:
            history = WorkflowHistory.from_json(entry["workflow_id"], entry["history"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{source}: runs[{index}] is not a workflow history ({err})") from err
        runs.append(RecordedRun(entry["workflow_id"], entry.get("run_id", ""), history))
    return runs


async def replay(runs: Sequence[RecordedRun], replayer: Replayer) -> WorkflowReplayResults:
    """Run every history against the current workflow code; failures are collected, not raised."""

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for run in runs:
            yield run.history

    return await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
