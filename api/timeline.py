"""An order's Temporal histories turned into a timeline people can read.

Engineers ask "why two delay alerts?", "why no review request?", "what did support do?". The answers are in
the journey's history and its tracking children's, across continue-as-new; this module reads them all
(`aftercare.histories.collect`), decodes payloads with the production converter, and says each event that
matters in a sentence: messages sent or skipped and why, tracking scans, delays detected, timers and when
they were due, signals and Updates with who sent them, activity failures with attempts and errors.

Delays the journey detects itself (`fulfillment_late`: nothing shipped by a rung of the SLA) are read from the
history too: its fulfillment-check timer fired, and the journey noticed at the start of the next workflow task.
Skips the journey decides itself (paused, opted out, item refunded) leave no event of their own, so they
come from the journey's state, marked as such; so do its own delays when the history cannot tell (and the state,
when given, settles whether a fired check found the order unshipped). Each entry links to its event in the
Temporal Web UI.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.converter import DataConverter

from aftercare.histories import RecordedRun
from api.run_reader import THE_JOURNEY, RunReader, Timeline, TimelineEntry, delay_summary
from domain import DelayAlert
from storage import OutboxRow
from workflows.models import JourneyState

__all__ = ["Timeline", "TimelineEntry", "build_timeline", "delivery_entry"]


def _own_delays(
    workflow_id: str, from_history: list[TimelineEntry], state: JourneyState | None
) -> tuple[list[TimelineEntry], list[TimelineEntry]]:
    """The journey's own delays (no parcel named): each once, from the history where it tells, else from the
    state. With the state, a fired check it does not list found the order shipped after all (a shipment in
    the same workflow task as the timer): that entry is dropped; one it lists takes its time from it (a
    retried workflow task noticed later). Returns (entries to drop, entries to add)."""
    if state is None:
        return [], []
    own = [d for d in state.delays if d.tracking_number is None]
    known: dict[tuple[object, object], DelayAlert] = {(d.kind.value, d.level): d for d in own}
    drop = []
    for entry in from_history:
        delay = known.get((entry.detail.get("kind"), entry.detail.get("level")))
        if delay is None:
            drop.append(entry)
        else:
            entry.at, entry.detail = delay.detected_at, delay.model_dump(mode="json")
    seen = {(e.detail.get("kind"), e.detail.get("level")) for e in from_history}
    add = [
        TimelineEntry(
            at=d.detected_at,
            kind="delay",
            summary=f"{delay_summary(d.model_dump(mode='json'))} (from the journey's state)",
            workflow_id=workflow_id,
            by=THE_JOURNEY,
            detail=d.model_dump(mode="json"),
        )
        for d in own
        if (d.kind.value, d.level) not in seen
    ]
    return drop, add


async def build_timeline(
    workflow_id: str,
    runs: Sequence[RecordedRun],
    converter: DataConverter,
    ui: str | None = None,
    state: JourneyState | None = None,
    outbox: Sequence[OutboxRow] = (),
) -> Timeline:
    """Every run's entries, merged in time order; with `state`, the journey's own skips added, and its own
    delays checked against (and completed from) what it says; with `outbox`, what providers reported of each
    message after it was sent (delivered, bounced, opened...), which no history holds."""
    entries: list[TimelineEntry] = []
    keys: set[str] = set()
    own_delays: list[TimelineEntry] = []
    for run in runs:
        reader = RunReader(run, converter, ui)
        await reader.read()
        entries.extend(reader.entries)
        keys |= reader.message_keys
        if run.workflow_id == workflow_id:
            own_delays.extend(reader.own_delays)
    drop, add = _own_delays(workflow_id, own_delays, state)
    entries = [e for e in entries if all(e is not d for d in drop)] + add
    if state is not None:
        for outcome in state.messages:
            if outcome.status == "skipped" and outcome.idempotency_key not in keys and outcome.at is not None:
                detail = f" ({outcome.detail})" if outcome.detail else ""
                entries.append(
                    TimelineEntry(
                        at=outcome.at,
                        kind="message",
                        summary=f"{outcome.step.value} by {outcome.channel.value} skipped: "
                        f"{outcome.skip_reason}{detail} (decided by the journey)",
                        workflow_id=workflow_id,
                        detail=outcome.model_dump(mode="json"),
                    )
                )
    entries += [delivery_entry(workflow_id, row) for row in outbox if row.delivery_status and row.delivery_at]
    entries.sort(key=lambda e: (e.at, e.workflow_id != workflow_id, e.event_id or 0))
    return Timeline(
        workflow_id=workflow_id,
        runs=len(runs),
        events=sum(len(r.history.events) for r in runs),
        entries=_fold_repeated_waits(entries),
    )


def delivery_entry(workflow_id: str, row: OutboxRow) -> TimelineEntry:
    """What the provider last reported of a sent message, from its delivery callbacks (storage.deliveries)."""
    assert row.delivery_status is not None and row.delivery_at is not None
    confirmed = " (its send, unconfirmed at the time, was confirmed)" if row.detail.startswith("confirmed by") else ""
    return TimelineEntry(
        at=row.delivery_at,
        kind="delivery",
        summary=f"{row.step.value} by {row.channel.value}: {row.delivery_status.value}{confirmed}",
        workflow_id=workflow_id,
        by=(row.delivery_detail or "").split(":", 1)[0] or None,
        detail={
            "idempotency_key": row.idempotency_key,
            "delivery_status": row.delivery_status.value,
            "provider_message_id": row.provider_message_id,
            "reported": row.delivery_detail,
        },
    )


def _fold_repeated_waits(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """A parcel waiting poll after poll with nothing happening is one entry, not fifty: consecutive timers
    of one workflow for the same purpose fold into the first, which counts them and keeps the last due time."""
    kept: list[TimelineEntry] = []
    open_wait: dict[str, TimelineEntry] = {}
    for entry in entries:
        wait = open_wait.get(entry.workflow_id)
        if entry.kind == "timer" and wait is not None and wait.detail.get("what") == entry.detail.get("what"):
            wait.detail["repeats"] = wait.detail.get("repeats", 1) + 1
            wait.detail["last_due"] = entry.detail["due"]
            wait.detail["outcome"] = entry.detail["outcome"]
            wait.summary = (
                f"waiting {wait.detail['repeats']} times for: {wait.detail.get('what') or 'timer'}, "
                f"the last until {entry.detail['due'][:19].replace('T', ' ')} UTC"
            )
            continue
        open_wait.pop(entry.workflow_id, None)
        if entry.kind == "timer":
            open_wait[entry.workflow_id] = entry
        kept.append(entry)
    return kept
