"""Saving the histories the scenario tests produce into tests/histories/, for the replay test.

Off by default: `AFTERCARE_RECORD_HISTORIES=1 make test` (or one test) rewrites the files of the scenarios
that record. Do that when a journey change is meant to be incompatible, never to make a replay pass;
docs/CHANGING_JOURNEYS.md says when.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client

from aftercare.histories import collect, to_bundle

HISTORIES = Path(__file__).parent / "histories"
RECORD_ENV = "AFTERCARE_RECORD_HISTORIES"


async def record_histories(client: Client, workflow_id: str, name: str) -> None:
    """With AFTERCARE_RECORD_HISTORIES set, write this journey's histories (and its children's) as `name`."""
    if not os.environ.get(RECORD_ENV):
        return
    runs = await collect(client, workflow_id)
    (HISTORIES / f"{name}.json").write_text(to_bundle(workflow_id, runs))
