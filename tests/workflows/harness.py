"""Scenario harness for journeys on the time-skipping server.

The activities are stand-ins at the Temporal boundary only: a provider that records what it was asked
to send (step, channel, recipient, the journey's clock), and a carrier that answers polls from a
script of scans by the Temporal clock. Everything inside the workflows is the real code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

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
from worker import build_worker
from workflows.models import JourneyInput, JourneyOptions, JourneyState
from workflows.order_journey import OrderJourney


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

    @activity.defn(name="send_message")
    async def send_message(self, req: MessageRequest) -> MessageOutcome:
        self.requests.setdefault(req.idempotency_key, req)
        return MessageOutcome(
            idempotency_key=req.idempotency_key,
            step=req.step,
            channel=req.channel,
            recipient=req.recipient,
            status=MessageStatus.SENT,
            provider_message_id=f"fake-{len(self.requests)}",
            at=req.requested_at,
        )

    def sent(self) -> list[Sent]:
        out = [
            Sent(r.step.value, r.channel.value, r.recipient, r.requested_at.replace(microsecond=0))
            for r in self.requests.values()
        ]
        return sorted(out, key=lambda s: (s.at, s.step, s.channel))


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
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = data[key] | value
        else:
            data[key] = value
    return Order.model_validate(data)


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
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = base[key] | value
        else:
            base[key] = value
    return Policy.model_validate(base)


class Scenario:
    """One journey on the shared time-skipping server, with its own task queue and stand-ins."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.provider = RecordingProvider()
        self.carrier = ScriptedCarrier()
        self.task_queue = f"scenario-{uuid.uuid4().hex[:8]}"
        self.handle: WorkflowHandle[OrderJourney, JourneyState] | None = None
        self.order: Order | None = None

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

    async def ship(self, shipment: Shipment) -> None:
        assert self.handle is not None
        await self.handle.signal(OrderJourney.shipment_created, shipment)

    async def webhook(self, *events: TrackingEvent) -> None:
        """What the API does with a carrier webhook: signal the parcel's tracking child."""
        first = events[0]
        child = self.env.client.get_workflow_handle(shipment_workflow_id(first.carrier, first.tracking_number))
        await child.signal("tracking_update", list(events))

    async def finish(self) -> JourneyState:
        assert self.handle is not None
        return await self.handle.result()

    async def state(self) -> JourneyState:
        assert self.handle is not None
        return await self.handle.query(OrderJourney.state)

    def sent(self) -> list[tuple[str, str, str | None, datetime]]:
        return [(s.step, s.channel, s.recipient, s.at) for s in self.provider.sent()]


@asynccontextmanager
async def scenario(env: WorkflowEnvironment) -> Iterator[Scenario]:  # type: ignore[misc]
    sc = Scenario(env)
    worker = build_worker(
        env.client,
        task_queue=sc.task_queue,
        activities=[sc.provider.send_message, sc.carrier.poll_carrier],
        max_concurrent_activities=10,
    )
    async with worker:
        yield sc


async def next_monday_10utc(env: WorkflowEnvironment) -> datetime:
    """Advance the shared clock to the next Monday 10:00 UTC, so each scenario starts on a known weekday."""
    now = (await env.get_current_time()).astimezone(UTC)
    days = (7 - now.weekday()) % 7 or 7
    target = (now + timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
    await env.sleep(target - now)
    return target
