"""Scenario harness for journeys on the time-skipping server.

The activities are stand-ins at the Temporal boundary only: a provider that records what it was asked
to send (step, channel, recipient, the journey's clock), and a carrier that answers polls from a
script of scans by the Temporal clock. Everything inside the workflows is the real code.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aftercare.histories import collect
from api.journey_state import read_journey_state
from domain import (
    MessageOutcome,
    MessageRequest,
    MessageStatus,
    Order,
    PollRequest,
    PollResult,
    Shipment,
    TrackingEvent,
    TrackingStatus,
    shipment_workflow_id,
)
from policies.schema import Policy
from tests.recording import record_histories
from worker import WORKFLOWS, workflow_runner
from workflows.models import JourneyInput, JourneyOptions, JourneyState, ParcelState, Reordered, ReviewSubmitted
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking
from workflows.timecalc import zone

T = TypeVar("T")


def to_the_minute(moment: datetime) -> datetime:
    """When something happened, as the scenarios state it: to the minute. The test server's clock also runs in
    real time while a busy machine processes a task, so a message due at 18:00 may carry 18:00:01; every
    scenario time is a whole minute, and processing only ever makes things later, never earlier."""
    return moment.replace(second=0, microsecond=0)


@dataclass
class Sent:
    step: str
    channel: str
    recipient: str | None
    at: datetime


class RecordingProvider:
    """Stands in for `send_message`: records each request once per idempotency key, as the outbox would."""

    def __init__(self) -> None:
        self.requests: dict[str, MessageRequest] = {}
        self.fail_first: dict[str, int] = {}  # step -> attempts that fail before one succeeds

    @activity.defn(name="send_message")
    async def send_message(self, req: MessageRequest) -> MessageOutcome:
        if activity.info().attempt <= self.fail_first.get(req.step.value, 0):
            raise RuntimeError(f"451 mailbox busy, try again later (attempt {activity.info().attempt})")
        self.requests.setdefault(req.idempotency_key, req)
        return MessageOutcome.sent(req, f"fake-{len(self.requests)}", req.requested_at)

    def sent(self) -> list[Sent]:
        out = [
            Sent(r.step.value, r.channel.value, r.recipient, to_the_minute(r.requested_at))
            for r in self.requests.values()
        ]
        return sorted(out, key=lambda s: (s.at, s.step, s.channel))

    def of_step(self, step: str) -> list[MessageRequest]:
        """The requests for one step, in the order they reached the provider's clock."""
        return sorted((r for r in self.requests.values() if r.step.value == step), key=lambda r: r.requested_at)


@dataclass
class ScriptedCarrier:
    """Stands in for `poll_carrier`: a parcel's scans become visible once the Temporal clock reaches them."""

    scans: dict[str, list[TrackingEvent]] = field(default_factory=dict)
    polls: list[tuple[str, datetime]] = field(default_factory=list)

    @activity.defn(name="poll_carrier")
    async def poll_carrier(self, req: PollRequest) -> PollResult:
        now = activity.info().current_attempt_scheduled_time
        self.polls.append((req.tracking_number, now))
        visible = [e for e in self.scans.get(req.tracking_number, []) if e.occurred_at <= now]
        edds = [e.estimated_delivery for e in visible if e.estimated_delivery]
        return PollResult(events=visible, estimated_delivery=edds[-1] if edds else None)


def scan(
    tracking_number: str,
    status: TrackingStatus,
    at: datetime,
    *,
    edd: datetime | None = None,
    carrier: str = "easypost",
    **extra: Any,
) -> TrackingEvent:
    return TrackingEvent(
        event_id=f"{tracking_number}-{status.value}-{at.isoformat()}",
        carrier=carrier,
        tracking_number=tracking_number,
        status=status,
        occurred_at=at,
        description=status.value.replace("_", " "),
        estimated_delivery=edd,
        **extra,
    )


def _overlaid(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it: a dict merges into a dict one level deep, anything else replaces."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = base[key] | value
        else:
            base[key] = value
    return base


def make_order(placed_at: datetime, **overrides: Any) -> Order:
    data: dict[str, Any] = {
        "merchant_id": "acme",
        "order_id": f"A{uuid.uuid4().hex[:8]}",
        "placed_at": placed_at,
        "currency": "USD",
        "total": Decimal("54.00"),
        "customer": {
            "id": "cust-1",
            "first_name": "Ada",
            "email": "ada@example.com",
            "phone": "+15555550100",
            "timezone": "UTC",
            "marketing_consent": True,
        },
        "shipping_address": {"country": "US"},
        "items": [{"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "54.00"}],
    }
    return Order.model_validate(_overlaid(data, overrides))


def make_policy(**sections: Any) -> Policy:
    """A test policy: calendar-day timings so expected times read plainly; sections override."""
    base: dict[str, Any] = {
        "merchant": {"id": "acme", "name": "Acme", "timezone": "UTC"},
        "channels": {
            "email": {"provider": "smtp", "sender": "hello@acme.test"},
            "sms": {"provider": "twilio", "sender": "+15555550000"},
        },
        "defaults": {"quiet_hours": {}},
        "steps": {
            "confirmation": {"channels": ["email"]},
            "shipped": {"channels": ["email"]},
            "status_update": {"channels": ["sms"]},
            "delay_alert": {"channels": ["email"]},
            "delivered": {"channels": ["email"]},
            "follow_up": {"after": "3d", "channels": ["email"]},
            "review_request": {"after": "14d", "reminder_after": "7d", "channels": ["email"]},
            "reorder_reminder": {"channels": ["email"]},
        },
        "delays": {
            "fulfillment_ladder": ["2d", "5d"],
            "pickup_sla": "1d",
            "stalled_after": "72h",
            "edd_grace": "0h",
            "exception_grace": "0h",
        },
        "tracking": {"poll_every": "1h", "poll_backoff": 1.0, "poll_max_interval": "1h"},
    }
    return Policy.model_validate(_overlaid(base, sections))


class Scenario:
    """One journey on the shared time-skipping server, with its own task queue and stand-ins."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.provider = RecordingProvider()
        self.carrier = ScriptedCarrier()
        self.task_queue = f"scenario-{uuid.uuid4().hex[:8]}"
        self.handle: WorkflowHandle[OrderJourney, JourneyState] | None = None
        self.order: Order | None = None
        self.shipments: list[Shipment] = []

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(UTC)

    async def advance_to(self, moment: datetime) -> None:
        gap = moment - await self.now()
        if gap > timedelta(0):
            await self.env.sleep(gap)

    async def start(self, order: Order, policy: Policy, **options: Any) -> WorkflowHandle[OrderJourney, JourneyState]:
        self.order = order
        self.handle = await self.env.client.start_workflow(
            OrderJourney.run,
            JourneyInput(
                order=order,
                policy=policy,
                policy_hash=policy.content_hash(),
                options=JourneyOptions(search_attributes=False, **options),
            ),
            id=order.workflow_id,
            task_queue=self.task_queue,
        )
        return self.handle

    async def signal(self, workflow_id: str, signal: str, arg: Any) -> None:
        """Signal a journey or a tracking child, first letting any of its timers due this very moment fire.

        The time-skipping test server refuses a workflow task that cancels a timer which fired while the
        task ran ("invalid history builder state for action", temporalio/sdk-java#2606) and then never
        redelivers it (#3088): the journey hangs. A real server buffers the firing and accepts the cancel.
        A signal at the instant of a timer (a poll due at the scan's time) is exactly that race, so the
        signal waits out timers due within the next second; message times move by milliseconds at most.
        """
        handle = self.env.client.get_workflow_handle(workflow_id)
        now = await self.now()
        due = [at for at in await _pending_timers(handle) if at <= now + timedelta(seconds=1)]
        if due:
            await self.env.sleep(max(max(due) - now, timedelta(0)) + timedelta(milliseconds=20))
        await handle.signal(signal, arg)

    async def ship(self, shipment: Shipment) -> None:
        assert self.order is not None
        self.shipments.append(shipment)
        await self.signal(self.order.workflow_id, "shipment_created", shipment)

    async def webhook(self, *events: TrackingEvent) -> None:
        """What the API does with a carrier webhook: signal the parcel's tracking child."""
        first = events[0]
        assert self.order is not None
        child_id = shipment_workflow_id(self.order.merchant_id, first.carrier, first.tracking_number)
        await self.signal(child_id, "tracking_update", list(events))

    async def scan_at(self, tracking_number: str, status: TrackingStatus, at: datetime, **extra: Any) -> TrackingEvent:
        """Let the clock reach `at`, then deliver the carrier's scan of that moment by webhook."""
        await self.advance_to(at)
        event = scan(tracking_number, status, at, **extra)
        await self.webhook(event)
        return event

    async def stop(self) -> None:
        """Terminate what a failed scenario left running, the journey and each tracking child (the test
        server does not apply parent close policies): with its worker gone, a leftover workflow's next task
        would wait forever and hold the shared clock still for every scenario after it."""
        ids = (
            [self.order.workflow_id] + [s.workflow_id(self.order.merchant_id) for s in self.shipments]
            if self.order
            else []
        )
        for workflow_id in ids:
            handle = self.env.client.get_workflow_handle(workflow_id)
            with contextlib.suppress(RPCError):
                if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="scenario over")

    async def finish(self) -> JourneyState:
        assert self.handle is not None
        return await _stuck_after(self.handle.result(), "waiting for the journey to complete")

    async def history_lengths(self) -> dict[str, list[int]]:
        """Events per run, for the journey and each tracking child: what the history budgets are about."""
        assert self.order is not None
        lengths: dict[str, list[int]] = {}
        for run in await collect(self.env.client, self.order.workflow_id):
            lengths.setdefault(run.workflow_id, []).append(len(run.history.events))
        return lengths

    async def record(self, name: str) -> None:
        """Save this journey's histories as tests/histories/<name>.json (only when recording is switched on)."""
        assert self.order is not None
        await record_histories(self.env.client, self.order.workflow_id, name)

    async def state(self) -> JourneyState:
        """What the API answers: the journey's state with its running parcels' live state folded in."""
        assert self.handle is not None
        return await read_journey_state(self.env.client, self.handle.id)

    def sent(self) -> list[tuple[str, str, str | None, datetime]]:
        return [(s.step, s.channel, s.recipient, s.at) for s in self.provider.sent()]

    def alerts(self) -> list[tuple[str, int, datetime]]:
        """Delay alerts the provider got: (kind, level, when), from the template context they carried."""
        return [
            (r.context["delay"]["kind"], r.context["delay"]["level"], to_the_minute(r.requested_at))
            for r in self.provider.of_step("delay_alert")
        ]

    def script(self, *events: TrackingEvent) -> None:
        """Scans the carrier will reveal to polls once the Temporal clock reaches them."""
        for event in events:
            self.carrier.scans.setdefault(event.tracking_number, []).append(event)

    def polls(self, tracking_number: str) -> list[datetime]:
        return [at for tn, at in self.carrier.polls if tn == tracking_number]

    async def parcel(self, tracking_number: str, carrier: str = "easypost") -> ParcelState:
        """The tracking child's own view of its parcel (a query on its latest run)."""
        assert self.order is not None
        child = self.env.client.get_workflow_handle(
            shipment_workflow_id(self.order.merchant_id, carrier, tracking_number)
        )
        return await child.query(ShipmentTracking.state)

    async def review_submitted(self, *item_ids: str) -> None:
        assert self.order is not None
        await self.signal(self.order.workflow_id, "review_submitted", ReviewSubmitted(item_ids=list(item_ids)))

    async def reordered(self, *skus: str, new_order_id: str | None = None) -> None:
        assert self.order is not None
        reorder = Reordered(skus=list(skus), new_order_id=new_order_id)
        await self.signal(self.order.workflow_id, "reordered", reorder)

    async def runs(self, workflow_id: str) -> list[str]:
        """Run ids of a workflow's continue-as-new chain, first run first (walks back from the latest run)."""
        run_ids: list[str] = []
        run_id: str | None = None
        while True:
            handle = self.env.client.get_workflow_handle(workflow_id, run_id=run_id)
            history = await handle.fetch_history()
            first = history.events[0]
            assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
            run_ids.append(run_id or (await handle.describe()).run_id)
            previous = first.workflow_execution_started_event_attributes.continued_execution_run_id
            if not previous:
                return list(reversed(run_ids))
            run_id = previous


# Real seconds a journey may take to complete once the test awaits it: skipped time costs next to none.
# (Only the result wait is bounded: abandoning an `env.sleep` midway leaves the test server's time-skipping
# lock unbalanced, and every later scenario would hang.)
RESULT_TIMEOUT = 30.0


async def _stuck_after(step: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(step, RESULT_TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"the journey looks stuck: {what} took over {RESULT_TIMEOUT:.0f} real seconds") from None


async def _pending_timers(handle: WorkflowHandle[Any, Any]) -> list[datetime]:
    """When each timer the workflow's current run has started and not yet seen fire or cancelled is due."""
    due: dict[str, datetime] = {}
    for event in (await handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            started = event.timer_started_event_attributes
            at = event.event_time.ToDatetime(tzinfo=UTC) + started.start_to_fire_timeout.ToTimedelta()
            due[started.timer_id] = at
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            due.pop(event.timer_fired_event_attributes.timer_id, None)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            due.pop(event.timer_canceled_event_attributes.timer_id, None)
    return list(due.values())


def skipped(state: JourneyState) -> list[tuple[str, str, str | None, datetime | None]]:
    """What the journey decided not to send: (step, channel, skip reason, when), in the order it decided."""
    return [
        (
            m.step.value,
            m.channel.value,
            m.skip_reason.value if m.skip_reason else None,
            to_the_minute(m.at) if m.at else None,
        )
        for m in state.messages
        if m.status is MessageStatus.SKIPPED
    ]


def delays(state: JourneyState) -> list[tuple[str, str | None, int, datetime]]:
    """The journey's delays: (kind, parcel or None for the order, level, detected at), oldest first."""
    return sorted(
        ((d.kind.value, d.tracking_number, d.level, to_the_minute(d.detected_at)) for d in state.delays),
        key=lambda d: d[3],
    )


def local(day: date | datetime, at: str, tz: str) -> datetime:
    """`day` at local clock time `at` ("HH:MM") in zone `tz`, as UTC (DST-proof expectations)."""
    d = day.date() if isinstance(day, datetime) else day
    return datetime.combine(d, time.fromisoformat(at), tzinfo=zone(tz)).astimezone(UTC)


def midnight_utc(moment: datetime) -> datetime:
    """How carriers send an EDD that is only a date: that date at 00:00 UTC."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@asynccontextmanager
async def scenario(env: WorkflowEnvironment) -> Iterator[Scenario]:  # type: ignore[misc]
    sc = Scenario(env)
    activities = [sc.provider.send_message, sc.carrier.poll_carrier]
    # What worker.build_worker registers, plus one test-only knob: an exception in workflow code fails the journey
    # at once (the test sees it in `finish`) instead of failing its task forever, which would hold the
    # shared clock still and hang every scenario after it.
    worker = Worker(
        env.client,
        task_queue=sc.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        workflow_runner=workflow_runner(),
        activity_executor=ThreadPoolExecutor(max_workers=10),
        max_concurrent_activities=10,
        workflow_failure_exception_types=[Exception],
    )
    async with worker:
        try:
            yield sc
        finally:
            await sc.stop()


async def next_monday_10utc(env: WorkflowEnvironment) -> datetime:
    """Advance the shared clock to the next Monday 10:00 UTC, so each scenario starts on a known weekday."""
    now = (await env.get_current_time()).astimezone(UTC)
    days = (7 - now.weekday()) % 7 or 7
    target = (now + timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
    await env.sleep(target - now)
    return target
