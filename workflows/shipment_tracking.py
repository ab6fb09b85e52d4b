"""`ShipmentTracking`: one parcel from label to doorstep.

Takes carrier updates by signal (webhooks) and by polling when the webhooks stay silent, keeps our
normalised status and the estimated delivery date (EDD) with its revisions, sends the status messages
the policy asks for, detects delays (once per episode), reports to its order journey, and ends on a
final status. Continues-as-new before its history grows large.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import (
        FINAL_STATUSES,
        DelayAlert,
        DelayKind,
        ExceptionReason,
        PollRequest,
        PollResult,
        Step,
        TrackingEvent,
        TrackingStatus,
    )
    from domain.carriers import carrier_name
    from policies.durations import Duration
    from workflows.messenger import Messenger
    from workflows.models import (
        PATCH_FINAL_AT_START,
        PATCH_FINDABLE_DETAIL,
        PATCH_FINDABLE_FROM_START,
        SA_CARRIER_STATUS,
        SA_MERCHANT,
        MessagePreferences,
        ParcelState,
        TrackingCarry,
        TrackingInput,
    )
    from workflows.timecalc import add_duration, edd_deadline, zone

POLL_CARRIER = "poll_carrier"
POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=1), maximum_attempts=3
)
SHIPMENT_PROGRESS_SIGNAL = "shipment_progress"

# Statuses after which no stall is counted: the parcel is not moving because it is not meant to.
_NOT_STALLING = FINAL_STATUSES | {TrackingStatus.PENDING, TrackingStatus.EXCEPTION}


@workflow.defn
class ShipmentTracking:
    @workflow.init
    def __init__(self, inp: TrackingInput) -> None:
        self._inp = inp
        self._policy = inp.policy
        self._tz = zone(self._policy.merchant.timezone)
        # A date-only EDD means a day at the delivery address: the customer's zone, else the merchant's.
        self._edd_tz = zone(inp.order.customer.timezone, self._policy.merchant.timezone)
        carry = inp.carry
        self._parcel = (
            carry.parcel
            if carry
            else ParcelState(
                carrier=inp.shipment.carrier,
                provider=inp.shipment.provider,
                tracking_number=inp.shipment.tracking_number,
                items=inp.shipment.items,
                exchange_id=inp.shipment.exchange_id,
            )
        )
        if self._parcel.workflow_id is None:  # readers find the child by the id it runs under, old or new format
            self._parcel.workflow_id = workflow.info().workflow_id
        self._seen: set[str] = set(carry.seen_event_ids) if carry else set()
        self._alerted: set[str] = set(carry.alerted) if carry else set()
        self._exception_since: datetime | None = carry.exception_since if carry else None
        self._exception_reason: ExceptionReason | None = carry.exception_reason if carry else None
        self._inbox: list[TrackingEvent] = list(carry.pending_events) if carry else []
        self._poll_every = self._policy.tracking.poll_every.as_timedelta()
        self._poll_interval = timedelta(seconds=carry.poll_interval_seconds) if carry else self._poll_every
        self._next_poll_at: datetime = carry.next_poll_at if carry else inp.started_at + self._poll_every
        key_prefix = f"{inp.parent_workflow_id}:{self._parcel.tracking_number}"
        self._messenger = Messenger(inp.order, self._policy, inp.policy_hash, key_prefix=key_prefix)
        self._messenger.outcomes = self._parcel.messages  # one list: reports and carries include it
        self._messenger.preferences = inp.preferences
        self._messenger.stale_before = inp.stale_before  # an order we heard of late: old news is not sent
        self._deferred: list[asyncio.Task[object]] = []  # messages waiting out quiet hours
        self._reported_delays = len(self._parcel.delays)

    @workflow.signal
    def tracking_update(self, events: list[TrackingEvent]) -> None:
        """Carrier webhook events for this parcel (the API forwards them). Events for another parcel are
        dropped: a legacy child id (`shipment-{carrier}-{number}`) can be reached for a different parcel."""
        parcel = self._parcel
        self._inbox.extend(
            e for e in events if e.carrier == parcel.tracked_via and e.tracking_number == parcel.tracking_number
        )

    @workflow.signal
    def preferences_changed(self, preferences: MessagePreferences) -> None:
        """Support paused this order's messages or opted the customer out of a channel."""
        self._messenger.preferences = preferences

    @workflow.query
    def state(self) -> ParcelState:
        return self._parcel

    @workflow.run
    async def run(self, inp: TrackingInput) -> ParcelState:
        if inp.carry is None:
            if inp.search_attributes and workflow.patched(PATCH_FINDABLE_FROM_START):
                self._upsert_status()  # `--carrier-status pending` finds a parcel before its first scan
            # Asking the carrier at once registers the parcel for its webhooks and picks up scans that
            # arrived before this child existed (the poll also returns those the API stored for it).
            known = await self._fetch()
            if not any(e.status in FINAL_STATUSES for e in known):
                shipped_at = inp.shipment.shipped_at or min((e.occurred_at for e in known), default=None)
                await self._send(Step.SHIPPED, context=self._shipment_context(), due_at=shipped_at)
            await self._apply(known)
        while True:
            if self._should_continue_as_new() and all(t.done() for t in self._deferred):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    inp.model_copy(update={"carry": self._carry(), "preferences": self._messenger.preferences})
                )
            now = workflow.now()
            deadline = self._next_wake(now)
            # Final already (delivered before tracking started): end now, not at the next poll.
            done = self._parcel.final and workflow.patched(PATCH_FINAL_AT_START)
            if not self._inbox and not done:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: bool(self._inbox),
                        timeout=max(deadline - now, timedelta(seconds=1)),
                        timeout_summary="next poll or delay check",
                    )
            now = workflow.now()
            events, self._inbox = self._inbox, []
            if events:  # the carrier is talking: polling can wait
                self._poll_interval = self._poll_every
                self._next_poll_at = now + self._poll_interval
            elif now >= self._next_poll_at:
                events = await self._poll(now)
            await self._apply(events)
            await self._check_delays(workflow.now())
            self._check_expiry(workflow.now())
            held = not all(t.done() for t in self._deferred)
            if len(self._parcel.delays) > self._reported_delays or (self._parcel.final and held):
                await self._report()  # a final parcel with a message held for the morning: say so now
            if self._parcel.final:
                await asyncio.gather(*self._deferred)  # a delivered SMS held for the morning still goes out
                return self._parcel

    # --- carrier input -------------------------------------------------------------------------

    async def _poll(self, now: datetime) -> list[TrackingEvent]:
        """A scheduled poll: news resets the interval, silence backs it off up to the policy's maximum."""
        fresh = await self._fetch()
        if fresh:
            self._poll_interval = self._poll_every
        else:
            backed_off = self._poll_interval * self._policy.tracking.poll_backoff
            self._poll_interval = min(backed_off, self._policy.tracking.poll_max_interval.as_timedelta())
        # From when this poll was due, not when its activity returned: the schedule does not creep.
        self._next_poll_at = now + self._poll_interval
        return fresh

    async def _fetch(self) -> list[TrackingEvent]:
        """Every scan the carrier knows that we have not seen yet."""
        try:
            result = await workflow.execute_activity(
                POLL_CARRIER,
                self._poll_request(),
                result_type=PollResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=POLL_RETRY,
                summary=f"poll {self._parcel.tracked_via} {self._parcel.tracking_number}",
            )
            events = list(result.events)
        except ActivityError:
            events = []  # carrier unreachable or does not know the parcel yet: try again later
        return [e for e in events if e.event_id not in self._seen]

    def _poll_request(self) -> PollRequest:
        """Ask the provider; a provider that must know the carrier (AfterShip) is told it."""
        parcel = self._parcel
        courier = parcel.carrier if parcel.provider is not None else None
        return PollRequest(carrier=parcel.tracked_via, tracking_number=parcel.tracking_number, courier=courier)

    async def _apply(self, events: list[TrackingEvent]) -> None:
        """Fold new scans into the parcel; send the messages status changes call for."""
        parcel = self._parcel
        for event in sorted(events, key=lambda e: e.occurred_at):
            if event.event_id in self._seen:
                continue
            self._seen.add(event.event_id)
            parcel.events_seen += 1
            if parcel.last_event_at is not None and event.occurred_at < parcel.last_event_at:
                continue  # a late-arriving older scan: history, not news (its EDD included)
            if event.estimated_delivery is not None:
                await self._note_edd(event.estimated_delivery, event.occurred_at)
            previous = parcel.status
            parcel.last_event_at = event.occurred_at
            parcel.last_description = event.description
            if event.status is TrackingStatus.UNKNOWN or event.status is previous:
                continue
            parcel.status = event.status
            self._publish_status()
            await self._on_status(event, previous)
            if parcel.final:
                break

    async def _note_edd(self, edd: datetime, heard_at: datetime) -> None:
        parcel = self._parcel
        previous = parcel.estimated_delivery
        if previous == edd:
            return
        parcel.estimated_delivery = edd
        parcel.edd_history.append(edd)
        if previous is not None and edd > previous and parcel.status not in FINAL_STATUSES:
            await self._alert(
                DelayKind.EDD_REVISED,
                f"edd_revised@{edd.isoformat()}",
                f"from {previous.date()} to {edd.date()}",
                due_at=heard_at,
            )

    async def _on_status(self, event: TrackingEvent, previous: TrackingStatus) -> None:
        parcel, status = self._parcel, event.status
        if status is TrackingStatus.EXCEPTION:
            self._exception_since = event.occurred_at
            self._exception_reason = event.exception_reason
        elif previous is TrackingStatus.EXCEPTION:
            self._exception_since = None
            self._exception_reason = None
        if status is TrackingStatus.DELIVERED:
            parcel.delivered_at = event.occurred_at
            parcel.final = True
            await self._send(
                Step.DELIVERED, key_suffix="delivered", context=self._shipment_context(), due_at=event.occurred_at
            )
        elif status in FINAL_STATUSES:
            parcel.final = True
        if status in self._policy.steps.status_update.statuses:
            await self._send(
                Step.STATUS_UPDATE,
                key_suffix=f"{status.value}@{event.occurred_at.isoformat()}",
                context=self._shipment_context(),
                still_relevant=lambda: self._parcel.status is status,
                due_at=event.occurred_at,
            )

    async def _send(
        self,
        step: Step,
        key_suffix: str = "",
        context: dict[str, Any] | None = None,
        still_relevant: Callable[[], bool] | None = None,
        due_at: datetime | None = None,
    ) -> None:
        """Send now; or, if a channel is in its quiet hours, in the background: later scans (and the email
        of the same moment) are not held up. The main loop reports the outcomes as they come in. `due_at`:
        when the news happened; long before the order reached us, it is skipped as stale."""
        if not self._messenger.must_wait(step, due_at):
            await self._messenger.send(step, key_suffix, context, due_at=due_at)
            return
        held = self._messenger.send(step, key_suffix, context, still_relevant=still_relevant, due_at=due_at)
        self._deferred.append(asyncio.create_task(held))

    # --- delays ---------------------------------------------------------------------------------

    def _due(self, start: datetime, duration: Duration) -> datetime:
        defaults = self._policy.defaults
        return add_duration(
            start, duration, tz=self._tz, business_days=defaults.business_days, holidays=defaults.holidays
        )

    def _delay_deadlines(self) -> list[tuple[DelayKind, str, datetime, str]]:
        """Every delay that would fire at some time if nothing changes: (kind, episode, due, detail)."""
        parcel, delays = self._parcel, self._policy.delays
        shipped_at = self._inp.shipment.shipped_at or self._inp.started_at
        out: list[tuple[DelayKind, str, datetime, str]] = []
        if parcel.final:
            return out
        if parcel.status is TrackingStatus.PENDING:
            out.append(
                (DelayKind.PICKUP_LATE, "pickup_late", self._due(shipped_at, delays.pickup_sla), "no carrier scan yet")
            )
        if parcel.status not in _NOT_STALLING and parcel.last_event_at is not None:
            out.append(
                (
                    DelayKind.STALLED,
                    f"stalled@{parcel.last_event_at.isoformat()}",
                    self._due(parcel.last_event_at, delays.stalled_after),
                    f"no scan since {parcel.last_event_at.isoformat()}",
                )
            )
        if parcel.estimated_delivery is not None:
            edd = parcel.estimated_delivery
            deadline = edd_deadline(edd, self._edd_tz)
            out.append(
                (
                    DelayKind.EDD_MISSED,
                    f"edd_missed@{edd.isoformat()}",
                    self._due(deadline, delays.edd_grace),
                    f"expected by {edd.date()}",
                )
            )
        if parcel.status is TrackingStatus.EXCEPTION and self._exception_since is not None:
            reason = self._exception_reason.value if self._exception_reason else ""
            out.append(
                (
                    DelayKind.CARRIER_EXCEPTION,
                    f"carrier_exception@{self._exception_since.isoformat()}",
                    self._due(self._exception_since, delays.exception_grace),
                    ": ".join(part for part in (reason, parcel.last_description) if part),
                )
            )
        return [d for d in out if d[1] not in self._alerted]

    async def _check_delays(self, now: datetime) -> None:
        for kind, episode, due, detail in self._delay_deadlines():
            if now >= due:
                await self._alert(kind, episode, detail, due_at=due)

    async def _alert(self, kind: DelayKind, episode: str, detail: str, due_at: datetime | None = None) -> None:
        """Record a delay once per episode and tell the customer if the policy wants this kind told."""
        if episode in self._alerted:
            return
        self._alerted.add(episode)
        alert = DelayAlert(
            kind=kind, detected_at=workflow.now(), tracking_number=self._parcel.tracking_number, detail=detail
        )
        self._parcel.delays.append(alert)
        if kind in self._policy.steps.delay_alert.kinds:
            delay: dict[str, object] = {"kind": kind.value, "level": 1, "detail": detail}
            if kind is DelayKind.CARRIER_EXCEPTION and self._exception_reason is not None:
                delay["reason"] = self._exception_reason.value
            context = self._shipment_context() | {"delay": delay}
            await self._send(
                Step.DELAY_ALERT,
                key_suffix=episode,
                context=context,
                still_relevant=lambda: not self._parcel.final,  # no "late" news after the parcel arrived
                due_at=due_at,
            )

    # --- the end --------------------------------------------------------------------------------

    def _publish_status(self) -> None:
        """The parcel's carrier status, findable on this child (`GET /v1/orders?carrier_status=` reads it and
        answers with the parent journey). Children started before the patch replay without it."""
        if self._inp.search_attributes and workflow.patched(PATCH_FINDABLE_DETAIL):
            self._upsert_status()

    def _upsert_status(self) -> None:
        workflow.upsert_search_attributes(
            [
                SA_MERCHANT.value_set(self._inp.order.merchant_id),
                SA_CARRIER_STATUS.value_set(self._parcel.status.value),
            ]
        )

    def _check_expiry(self, now: datetime) -> None:
        """No carrier word at all for `expire_after`, or tracking for `give_up_after`: stop tracking."""
        parcel, tracking = self._parcel, self._policy.tracking
        if parcel.final:
            return
        silent = parcel.events_seen == 0 and now >= self._inp.started_at + tracking.expire_after.as_timedelta()
        too_long = now >= self._inp.started_at + tracking.give_up_after.as_timedelta()
        if silent or too_long:
            parcel.status = TrackingStatus.EXPIRED
            parcel.final = True
            self._publish_status()

    def _next_wake(self, now: datetime) -> datetime:
        tracking = self._policy.tracking
        candidates = [self._next_poll_at, self._inp.started_at + tracking.give_up_after.as_timedelta()]
        if self._parcel.events_seen == 0:
            candidates.append(self._inp.started_at + tracking.expire_after.as_timedelta())
        candidates += [due for _, _, due, _ in self._delay_deadlines()]
        return max(min(candidates), now)

    async def _report(self) -> None:
        """Tell the order journey about new delays: all it needs before the final result. Live status and
        messages are read by query (the API merges them), which keeps both histories short."""
        self._reported_delays = len(self._parcel.delays)
        parent = workflow.get_external_workflow_handle(self._inp.parent_workflow_id)
        await parent.signal(SHIPMENT_PROGRESS_SIGNAL, self._parcel)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._inp.history_limit

    def _carry(self) -> TrackingCarry:
        return TrackingCarry(
            parcel=self._parcel,
            seen_event_ids=sorted(self._seen),
            poll_interval_seconds=self._poll_interval.total_seconds(),
            next_poll_at=self._next_poll_at,
            alerted=sorted(self._alerted),
            exception_since=self._exception_since,
            exception_reason=self._exception_reason,
            pending_events=self._inbox,
        )

    def _shipment_context(self) -> dict[str, object]:
        parcel = self._parcel
        edd = parcel.estimated_delivery
        tracking_url = self._inp.shipment.tracking_url or self._messenger.link(
            "tracking", tracking_number=parcel.tracking_number
        )
        return {
            "shipment": {
                "carrier": parcel.carrier,
                "carrier_name": carrier_name(parcel.carrier),  # "shipped with UPS", never the provider's name
                "tracking_number": parcel.tracking_number,
                "tracking_url": tracking_url,
                "status": parcel.status.value,
                "estimated_delivery": edd.date().isoformat() if edd else None,
                "items": parcel.items,
            }
        }
