"""What the bench's journeys run against, in place of the outside world: the order, the merchant's policy and
the schedule of one bench order; `send_message` and `poll_carrier` stand-ins that do no I/O; and the store and
carrier webhooks, sent to the workflows as the API would forward them.

Used by the driver (bench/journeys.py) and the floor (bench/journey_floor.py). No workflow lives here: the floor
imports it through the sandbox (`imports_passed_through`), so it is not re-imported for every floor run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from domain import (
    MessageOutcome,
    MessageRequest,
    MessageStatus,
    Order,
    PollRequest,
    PollResult,
    Shipment,
    Step,
    TrackingEvent,
    TrackingStatus,
)
from policies.schema import Policy
from workflows.models import JourneyInput, JourneyOptions, JourneyState
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking

MERCHANT = "bench"
CARRIER = "benchpost"


# --- the schedule both sides follow ------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Every wait of one order, in seconds. The journey gets them from the policy and the driver's
    webhooks; the floor gets the very same numbers as durable timers.

    Each gap is a few workflow-task round trips wide on purpose: the journey's post-delivery dates
    are absolute (delivery scan + N), so a journey that runs seconds late finds them already due and
    skips the timer, and scans that arrive faster than the child handles them are folded into one
    report. Either way it would do less work than on a real schedule of days (see `report`).
    """

    ship_after: int = 1  # order placed -> fulfillment webhook (shipment_created)
    scan_every: int = 2  # between webhooks: shipped -> in_transit -> out_for_delivery -> delivered
    checkpoints: int = 0  # extra in_transit scans (carriers send several) before out_for_delivery
    follow_up: int = 6  # delivered -> follow-up
    review: int = 10  # delivered -> review request
    reminder: int = 4  # review request -> review reminder

    def floor_waits(self) -> list[tuple[str | None, int]]:
        """The journey's waits and sends in order: (step to send or None, seconds to wait first; 0 = no timer)."""
        return [
            (Step.CONFIRMATION.value, 0),
            (Step.SHIPPED.value, self.ship_after),  # fulfillment webhook; the child sends `shipped`
            (None, self.scan_every),  # in_transit scan: news for the parent, no message
            *[(None, self.scan_every)] * self.checkpoints,  # more in_transit checkpoints, no message
            (Step.STATUS_UPDATE.value, self.scan_every),  # out_for_delivery scan
            (Step.DELIVERED.value, self.scan_every),  # delivered scan
            (Step.REORDER_REMINDER.value, 0),  # due the moment the parcel is delivered (see policy)
            (Step.FOLLOW_UP.value, self.follow_up),
            (Step.REVIEW_REQUEST.value, self.review - self.follow_up),
            (Step.REVIEW_REMINDER.value, self.reminder),
        ]

    def scans(self) -> list[TrackingStatus]:
        """The carrier webhooks of one parcel, one every `scan_every` seconds after shipping."""
        transit = [TrackingStatus.IN_TRANSIT] * (1 + self.checkpoints)
        return [*transit, TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED]

    @property
    def messages(self) -> int:
        return sum(1 for step, _ in self.floor_waits() if step)

    @property
    def floor_timer_waits(self) -> list[int]:
        return [wait for _, wait in self.floor_waits() if wait]

    @property
    def post_delivery_timers(self) -> int:
        """Timers the order journey itself waits on: follow-up, review request, review reminder."""
        return 3

    @property
    def ideal_latency(self) -> float:
        """Seconds from order to last message if orchestration took no time at all."""
        return float(sum(self.floor_timer_waits))

    def scaled(self, k: int) -> Schedule:
        """Every wait `k` times longer (the default schedule is the shortest one that reads plainly)."""
        return replace(
            self,
            ship_after=self.ship_after * k,
            scan_every=self.scan_every * k,
            follow_up=self.follow_up * k,
            review=self.review * k,
            reminder=self.reminder * k,
        )


def bench_policy(s: Schedule) -> Policy:
    """The whole journey squeezed into seconds: one email per step, nothing waits on quiet hours or caps."""
    return Policy.model_validate(
        {
            "merchant": {"id": MERCHANT, "name": "Bench Shop", "timezone": "UTC"},
            "channels": {"email": {"provider": "smtp", "sender": "shop@example.com"}},
            "defaults": {
                "quiet_hours": {},
                "business_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "caps": {"email": {"window": "1s"}},
            },
            "steps": {
                "confirmation": {"channels": ["email"]},
                "shipped": {"channels": ["email"]},
                "status_update": {"channels": ["email"], "statuses": ["out_for_delivery"]},
                "delay_alert": {"channels": ["email"]},
                "delivered": {"channels": ["email"]},
                "follow_up": {"after": f"{s.follow_up}s", "channels": ["email"]},
                "review_request": {
                    "after": f"{s.review}s",
                    "reminder_after": f"{s.reminder}s",
                    "channels": ["email"],
                },
                "reorder_reminder": {"channels": ["email"]},
            },
            # Far away: a bench order is never late, so no delay alert muddles the count.
            "delays": {"fulfillment_ladder": ["1d"], "pickup_sla": "1d", "stalled_after": "1d"},
            # Webhooks bring every scan; polling would only start after an hour of silence.
            "tracking": {"poll_every": "1h", "poll_max_interval": "1h", "expire_after": "1d", "give_up_after": "2d"},
            # Supply is counted in whole days: remind_before longer than the supply puts the (single)
            # reorder reminder at delivery, as the demo policy does.
            "reorder": [{"skus": ["*"], "supply_days_per_unit": 1, "remind_before": "30d", "max_reminders": 1}],
            # The journey stays open for support until the return window closes: squeezed like the rest.
            "returns": {"window": f"{s.review}s"},
        }
    )


def bench_order(run: str, n: int, placed_at: datetime) -> Order:
    return Order.model_validate(
        {
            "merchant_id": MERCHANT,
            "order_id": f"{run}-{n:05d}",
            "placed_at": placed_at,
            "currency": "USD",
            "total": Decimal("54.00"),
            "customer": {
                "id": f"cust-{n:05d}",
                "first_name": "Ada",
                "email": f"ada{n}@example.com",
                "timezone": "UTC",
                "marketing_consent": True,
            },
            "shipping_address": {"country": "US"},
            "items": [{"id": "li-1", "sku": "BEANS-1", "name": "Beans", "quantity": 1, "unit_price": "54.00"}],
        }
    )


# --- stand-in activities: no I/O -------------------------------------------------------------------------


@dataclass
class StandIns:
    """`send_message` and `poll_carrier` at the Temporal boundary, counting calls and nothing else."""

    sends: Counter[str] = field(default_factory=Counter)
    polls: int = 0

    @activity.defn(name="send_message")
    async def send_message(self, req: MessageRequest) -> MessageOutcome:
        self.sends[req.step.value] += 1
        return MessageOutcome.sent(req, f"bench-{req.idempotency_key}", req.requested_at)

    @activity.defn(name="poll_carrier")
    async def poll_carrier(self, req: PollRequest) -> PollResult:
        self.polls += 1
        return PollResult()

    @property
    def activities(self) -> int:
        return sum(self.sends.values()) + self.polls


# --- the store and the carrier: their webhooks, as the API forwards them ------------------------------------


async def signal_child(client: Client, workflow_id: str, events: list[TrackingEvent], tally: Counter[str]) -> None:
    """What the API does with a carrier webhook. The API drops a scan for a child that has not started
    yet (its poll catches up); the bench polls hourly, so it retries instead, every 250 ms."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(240):
        try:
            await handle.signal(ShipmentTracking.tracking_update, events)
            return
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            tally["webhook retries (child not started yet)"] += 1
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{workflow_id} never started")


def journey_driver(
    client: Client,
    task_queue: str,
    run: str,
    policy: Policy,
    options: JourneyOptions,
    s: Schedule,
    tally: Counter[str],
) -> Callable[[int], Awaitable[str]]:
    policy_hash = policy.content_hash()

    async def one(i: int) -> str:
        order = bench_order(run, i, datetime.now(UTC))
        handle: WorkflowHandle[OrderJourney, JourneyState] = await client.start_workflow(
            OrderJourney.run,
            JourneyInput(order=order, policy=policy, policy_hash=policy_hash, options=options),
            id=order.workflow_id,
            task_queue=task_queue,
        )
        await asyncio.sleep(s.ship_after)
        shipment = Shipment(
            carrier="ups", provider=CARRIER, tracking_number=f"T{run}{i:05d}", shipped_at=datetime.now(UTC)
        )
        await handle.signal(OrderJourney.shipment_created, shipment)
        for k, status in enumerate(s.scans()):
            await asyncio.sleep(s.scan_every)
            at = datetime.now(UTC)
            event = TrackingEvent(
                event_id=f"{shipment.tracking_number}-{k}-{status.value}",
                carrier=CARRIER,
                tracking_number=shipment.tracking_number,
                status=status,
                occurred_at=at,
                description=status.value.replace("_", " "),
            )
            await signal_child(client, shipment.workflow_id(order.merchant_id), [event], tally)
        state = await handle.result()
        sent = sum(1 for m in state.messages if m.status is MessageStatus.SENT)
        if state.stage.value != "completed" or sent != s.messages:
            raise RuntimeError(f"{order.workflow_id} ended {state.stage.value} with {sent} messages sent")
        return order.workflow_id

    return one
