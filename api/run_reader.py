"""One run of an order's Temporal history, read event by event into timeline entries (`api.timeline` merges
the runs of a journey and its tracking children, and adds what no history holds)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter, decode_search_attributes

from aftercare.histories import RecordedRun
from aftercare.senders import read_sender
from domain import DelayAlert, DelayKind
from domain.carriers import carrier_name
from workflows.models import FULFILLMENT_CHECK, SA_STAGE
from workflows.shipment_tracking import SHIPMENT_PROGRESS_SIGNAL

Kind = Literal[
    "journey",
    "message",
    "delivery",
    "tracking",
    "delay",
    "timer",
    "signal",
    "update",
    "failure",
    "parcel",
    "stage",
    "patch",
]
_QUIET_ACTIVITIES = {"record_action"}  # bookkeeping: the Update entry already says what happened
THE_JOURNEY = "the journey"  # who detected a delay the order journey finds itself


class TimelineEntry(BaseModel):
    at: datetime
    kind: Kind
    summary: str
    workflow_id: str
    run_id: str = ""
    event_id: int | None = None
    by: str | None = Field(default=None, description="who sent a signal or Update (identity or support actor)")
    detail: dict[str, Any] = Field(default_factory=dict)
    link: str | None = Field(default=None, description="the event in the Temporal Web UI")


class Timeline(BaseModel):
    workflow_id: str
    runs: int
    events: int
    entries: list[TimelineEntry]


class RunReader:
    """Reads one run's events in order, remembering what later events refer back to."""

    def __init__(self, run: RecordedRun, converter: DataConverter, ui: str | None) -> None:
        self.run = run
        self.converter = converter
        self.ui = ui
        self.entries: list[TimelineEntry] = []
        self.scheduled: dict[int, str] = {}
        self.attempts: dict[int, tuple[int, str | None]] = {}
        self.timers: dict[int, TimelineEntry] = {}
        self.updates: dict[str, TimelineEntry] = {}
        self.stage: str | None = None
        self.message_keys: set[str] = set()
        self.scans: dict[str, TimelineEntry] = {}
        self.delays: set[tuple[Any, Any, Any]] = set()
        self.checks_fired: list[HistoryEvent] = []  # the journey's fulfillment checks that fired, in order
        self.check_fired: HistoryEvent | None = None  # one that fired, until the journey's next task notices it
        self.own_delays: list[TimelineEntry] = []

    def add(
        self, event: HistoryEvent, kind: Kind, summary: str, at: datetime | None = None, **extra: Any
    ) -> TimelineEntry:
        link = None
        if self.ui:
            link = f"{self.ui}/workflows/{self.run.workflow_id}/{self.run.run_id}/history/events/{event.event_id}"
        entry = TimelineEntry(
            at=at or event_time(event),
            kind=kind,
            summary=summary,
            workflow_id=self.run.workflow_id,
            run_id=self.run.run_id,
            event_id=event.event_id,
            link=link,
            **extra,
        )
        self.entries.append(entry)
        return entry

    async def value(self, payloads: Sequence[Payload]) -> Any:
        if not payloads:
            return None
        return (await self.converter.decode(list(payloads)))[0]

    async def error(self, failure: Any) -> str:
        return str(await self.converter.decode_failure(failure))

    async def read(self) -> None:
        for event in self.run.history.events:
            handler = getattr(self, "_" + EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower(), None)
            if handler is not None:
                await handler(event)

    # --- the events that matter -----------------------------------------------------------------

    async def _workflow_execution_started(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_started_event_attributes
        inp = await self.value(attrs.input.payloads) or {}
        if attrs.workflow_type.name == "ShipmentTracking":
            shipment = inp.get("shipment", {})
            carrier, provider = shipment.get("carrier"), shipment.get("provider")
            via = f" via {carrier_name(provider)}" if provider and provider != carrier else ""
            summary = f"tracking started for {carrier_name(carrier)} parcel {shipment.get('tracking_number')}{via}"
        else:
            order = inp.get("order", {})
            summary = (
                f"journey started for order {order.get('order_id')} ({order.get('total')} {order.get('currency')})"
            )
        if attrs.continued_execution_run_id:
            summary = f"{summary}: a new run, continued as new from {attrs.continued_execution_run_id}"
        by = await read_sender(attrs.header.fields, self.converter) or attrs.identity or None
        self.add(event, "journey", summary, by=by)

    async def _activity_task_scheduled(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        self.scheduled[event.event_id] = attrs.activity_type.name

    async def _activity_task_started(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_started_event_attributes
        last = await self.error(attrs.last_failure) if attrs.HasField("last_failure") else None
        self.attempts[attrs.scheduled_event_id] = (attrs.attempt, last)

    async def _activity_task_completed(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_completed_event_attributes
        name = self.scheduled.get(attrs.scheduled_event_id, "?")
        attempt, last = self.attempts.get(attrs.scheduled_event_id, (1, None))
        if attempt > 1:
            because = f"; the last failure: {last}" if last else ""
            self.add(
                event,
                "failure",
                f"{name} needed {attempt} attempts{because}",
                detail={"activity": name, "attempts": attempt, "error": last},
            )
        if name in _QUIET_ACTIVITIES:
            return
        result = await self.value(attrs.result.payloads)
        if name == "send_message" and isinstance(result, dict):
            self._message(event, result)
        elif name == "poll_carrier" and isinstance(result, dict):
            for scan in result.get("events") or []:
                self._scan(event, scan, "poll")
        elif name == "issue_refund" and isinstance(result, dict):
            self.add(
                event,
                "update",
                f"refund of {result.get('amount')} {result.get('currency', '')} issued by "
                f"{result.get('provider')} ({result.get('refund_id')}, {result.get('status')})",
                detail=result,
            )
        elif name == "create_return_label" and isinstance(result, dict):
            self.add(event, "update", f"return label {result.get('tracking_number')} made", detail=result)

    async def _activity_task_failed(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_failed_event_attributes
        name = self.scheduled.get(attrs.scheduled_event_id, "?")
        attempt, _ = self.attempts.get(attrs.scheduled_event_id, (1, None))
        error = await self.error(attrs.failure)
        self.add(
            event,
            "failure",
            f"{name} failed for good after {attempt} attempt(s): {error}",
            detail={"activity": name, "attempts": attempt, "error": error},
        )

    async def _activity_task_timed_out(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_timed_out_event_attributes
        name = self.scheduled.get(attrs.scheduled_event_id, "?")
        error = await self.error(attrs.failure)
        self.add(event, "failure", f"{name} timed out: {error}", detail={"activity": name, "error": error})

    async def _timer_started(self, event: HistoryEvent) -> None:
        attrs = event.timer_started_event_attributes
        what = await self.value([event.user_metadata.summary]) if event.user_metadata.HasField("summary") else None
        started = event_time(event)
        due = started + timedelta(seconds=attrs.start_to_fire_timeout.ToTimedelta().total_seconds())
        entry = self.add(
            event,
            "timer",
            f"waiting until {due:%Y-%m-%d %H:%M:%S} UTC: {what or 'timer'}",
            detail={"due": due.isoformat(), "what": what, "outcome": "pending"},
        )
        self.timers[event.event_id] = entry

    async def _timer_fired(self, event: HistoryEvent) -> None:
        entry = self.timers.get(event.timer_fired_event_attributes.started_event_id)
        if entry is not None:
            entry.detail["outcome"] = "fired"
            if entry.detail.get("what") == FULFILLMENT_CHECK:
                self.check_fired = event

    async def _workflow_task_started(self, event: HistoryEvent) -> None:
        """The task that handles a fired fulfillment check is when the journey detects the order is late
        (`workflow.now()` there is this event's time): one delay, one level up the ladder per check."""
        fired, self.check_fired = self.check_fired, None
        if fired is None:
            return
        self.checks_fired.append(fired)
        at = event_time(event)
        delay = DelayAlert(
            kind=DelayKind.FULFILLMENT_LATE, detected_at=at, level=len(self.checks_fired), detail="not shipped yet"
        )
        entry = self._delay(fired, delay.model_dump(mode="json"), THE_JOURNEY, at=at)
        if entry is not None:
            self.own_delays.append(entry)

    async def _timer_canceled(self, event: HistoryEvent) -> None:
        entry = self.timers.get(event.timer_canceled_event_attributes.started_event_id)
        if entry is not None:
            entry.detail["outcome"] = "cancelled (something came first)"

    async def _workflow_execution_signaled(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        value = await self.value(attrs.input.payloads)
        # who sent it as the API knew it (a token's holder, a webhook); else the sending process's identity
        by = await read_sender(attrs.header.fields, self.converter) or attrs.identity or None
        name = attrs.signal_name
        if name == "tracking_update" and isinstance(value, list):
            for scan in value:
                self._scan(event, scan, "webhook", by=by)
        elif name == "shipment_created" and isinstance(value, dict):
            self.add(
                event,
                "signal",
                f"shipment created: {value.get('carrier')} {value.get('tracking_number')}",
                by=by,
                detail=value,
            )
        elif name == SHIPMENT_PROGRESS_SIGNAL and isinstance(value, dict):
            for delay in value.get("delays") or []:
                self._delay(event, delay, f"tracking child of {value.get('tracking_number')}")
        else:
            self.add(event, "signal", f"signal {name}", by=by, detail={"input": value})

    async def _workflow_execution_update_accepted(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_accepted_event_attributes
        request = attrs.accepted_request
        command = await self.value(request.input.args.payloads)
        actor = command.get("actor", {}) if isinstance(command, dict) else {}
        who = f"{actor.get('name')} ({actor.get('role')})" if actor else request.meta.identity or None
        entry = self.add(
            event,
            "update",
            f"{request.input.name} asked by {who}",
            by=who,
            detail={"request": command, "update_id": request.meta.update_id},
        )
        self.updates[request.meta.update_id] = entry

    async def _workflow_execution_update_completed(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_completed_event_attributes
        entry = self.updates.get(attrs.meta.update_id)
        if entry is None:
            return
        if attrs.outcome.HasField("failure"):
            reason = await self.error(attrs.outcome.failure)
            entry.summary += f": refused or failed: {reason}"
            entry.detail["failure"] = reason
        else:
            result = await self.value(attrs.outcome.success.payloads)
            summary = result.get("summary") if isinstance(result, dict) else None
            entry.summary += f": {summary}" if summary else ": done"
            entry.detail["result"] = result

    async def _start_child_workflow_execution_initiated(self, event: HistoryEvent) -> None:
        attrs = event.start_child_workflow_execution_initiated_event_attributes
        self.add(event, "parcel", f"tracking child {attrs.workflow_id} started")

    async def _child_workflow_execution_completed(self, event: HistoryEvent) -> None:
        attrs = event.child_workflow_execution_completed_event_attributes
        parcel = await self.value(attrs.result.payloads) or {}
        self.add(
            event,
            "parcel",
            f"parcel {parcel.get('tracking_number')} finished: {parcel.get('status')}",
            detail={"workflow_id": attrs.workflow_execution.workflow_id},
        )

    async def _child_workflow_execution_failed(self, event: HistoryEvent) -> None:
        attrs = event.child_workflow_execution_failed_event_attributes
        error = await self.error(attrs.failure)
        self.add(event, "failure", f"tracking child {attrs.workflow_execution.workflow_id} failed: {error}")

    async def _upsert_workflow_search_attributes(self, event: HistoryEvent) -> None:
        attrs = decode_search_attributes(event.upsert_workflow_search_attributes_event_attributes.search_attributes)
        stage = attrs.get(SA_STAGE.name)
        if stage and stage[0] != self.stage:
            self.stage = str(stage[0])
            self.add(event, "stage", f"stage: {self.stage}")

    async def _marker_recorded(self, event: HistoryEvent) -> None:
        attrs = event.marker_recorded_event_attributes
        if attrs.marker_name == "core_patch":  # what `workflow.patched` records
            patch = await self.value(attrs.details["patch-data"].payloads) if "patch-data" in attrs.details else None
            self.add(event, "patch", f"code path: patch {patch.get('id') if isinstance(patch, dict) else patch}")

    async def _workflow_execution_continued_as_new(self, event: HistoryEvent) -> None:
        self.add(event, "journey", f"continued as new after {len(self.run.history.events)} events")

    async def _workflow_execution_completed(self, event: HistoryEvent) -> None:
        self.add(event, "journey", "finished")

    async def _workflow_execution_failed(self, event: HistoryEvent) -> None:
        error = await self.error(event.workflow_execution_failed_event_attributes.failure)
        self.add(event, "failure", f"workflow failed: {error}")

    async def _workflow_execution_terminated(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_terminated_event_attributes
        self.add(event, "journey", f"terminated: {attrs.reason}", by=attrs.identity or None)

    # --- what the payloads say ------------------------------------------------------------------

    def _message(self, event: HistoryEvent, outcome: dict[str, Any]) -> None:
        self.message_keys.add(str(outcome.get("idempotency_key")))
        step, channel = outcome.get("step"), outcome.get("channel")
        if outcome.get("status") == "skipped":
            why = outcome.get("skip_reason")
            detail = f" ({outcome['detail']})" if outcome.get("detail") else ""
            summary = f"{step} by {channel} skipped: {why}{detail}"
        else:
            summary = f"{step} {outcome.get('status')} by {channel} to {outcome.get('recipient')}"
        self.add(event, "message", summary, detail=outcome)

    def _scan(self, event: HistoryEvent, scan: dict[str, Any], source: str, by: str | None = None) -> None:
        """A carrier scan, once: the same scan again (a poll after the webhook, a webhook repeating the whole
        tracker) is noted on the first entry, as the tracking child drops it too."""
        seen = self.scans.get(str(scan.get("event_id")))
        if seen is not None:
            seen.detail.setdefault("also_received_by", []).append(source)
            return
        reason = f" ({scan['exception_reason']})" if scan.get("exception_reason") else ""
        self.scans[str(scan.get("event_id"))] = self.add(
            event,
            "tracking",
            f"{scan.get('tracking_number')}: {scan.get('status')}{reason} at {scan.get('occurred_at')}"
            f" — {scan.get('description') or ''} (by {source})".rstrip(),
            by=by,
            detail=scan,
        )

    def _delay(
        self, event: HistoryEvent, delay: dict[str, Any], by: str | None, at: datetime | None = None
    ) -> TimelineEntry | None:
        key = (delay.get("kind"), delay.get("tracking_number"), delay.get("detected_at"))
        if key in self.delays:
            return None  # each report carries the parcel's delays so far: only the new one is news
        self.delays.add(key)
        return self.add(event, "delay", delay_summary(delay), at=at, by=by, detail=delay)


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


def delay_summary(delay: dict[str, Any]) -> str:
    return (
        f"delay detected: {delay.get('kind')} on {delay.get('tracking_number') or 'the order'}"
        f" (level {delay.get('level', 1)})"
    )
