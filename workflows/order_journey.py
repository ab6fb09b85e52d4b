"""`OrderJourney`: one order from "thanks for your order" to "time to reorder".

`run` tells the story: confirm; wait for the parcels (with the fulfillment-late ladder) and track each one
in its own `ShipmentTracking` child; then work through the post-delivery plan (follow-up, review request
and reminder, reorder reminders; `workflows.plan`) that signals and support can prune at any moment; stay
open until the return window closes, so support can act on it; complete when nothing is left.

Support acts through Updates (refund, exchange, cancel, pause/resume, opt-out, notes): the entry points are
here, what they do is in `workflows.support_updates`. A validator refuses a wrong request before anything
happens; handlers run one at a time under a lock and check again, so two agents at once never refund more
than was paid.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from domain import (
        DelayAlert,
        DelayKind,
        Shipment,
        SkipReason,
        Step,
        TrackingStatus,
        legacy_shipment_workflow_id,
        shipment_workflow_id,
    )
    from policies.durations import Duration
    from workflows import commands as act
    from workflows.commands import ActionResult, ExchangeRecord
    from workflows.messenger import Messenger
    from workflows.models import (
        FULFILLMENT_CHECK,
        PATCH_STALE_STEPS,
        PATCH_TENANT_IDS,
        JourneyInput,
        JourneyState,
        ParcelState,
        PlannedAction,
        Reordered,
        ReviewSubmitted,
        Stage,
        TrackingInput,
        journey_search_attributes,
    )
    from workflows.parcels import fully_shipped, originals, received_items, shipping_stage
    from workflows.plan import (
        Planned,
        build_plan,
        due,
        next_ready,
        planned_actions,
        postpone_reviews,
        prune_plan,
        stale_cutoff,
    )
    from workflows.shipment_tracking import SHIPMENT_PROGRESS_SIGNAL, ShipmentTracking
    from workflows.support_rules import (
        refunded_total,
    )
    from workflows.support_updates import SupportUpdates
    from workflows.timecalc import zone


# Parcels whose items never reached the customer: no review, no reorder for those.


@workflow.defn
class OrderJourney(SupportUpdates):
    @workflow.init
    def __init__(self, inp: JourneyInput) -> None:
        order = inp.order
        self._inp = inp
        self._policy = inp.policy.for_order(order)
        self._tz = zone(self._policy.merchant.timezone)
        # Our own id, as Temporal knows it: journeys started before 'tenant-ids' keep their old-style id, so
        # their message, refund and audit keys stay what they were.
        self._id = workflow.info().workflow_id
        self._messenger = Messenger(order, self._policy, inp.policy_hash, key_prefix=self._id)
        self._state = JourneyState(
            workflow_id=self._id,
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            policy_hash=inp.policy_hash,
            variants=inp.policy.matching_variants(order),
        )
        self._new_shipments: list[Shipment] = []
        self._known_parcels: set[str] = set()
        self._children: dict[str, ChildWorkflowHandle[ShipmentTracking, ParcelState]] = {}
        self._plan: list[Planned] = []
        self._plan_changed = False
        self._published_stage: Stage | None = None
        self._held: list[asyncio.Task[Any]] = []  # messages waiting out quiet hours, audit records
        self._watchers: list[asyncio.Task[None]] = []  # one per tracking child
        self._lock = asyncio.Lock()  # support's handlers run one at a time
        # (who, action, idempotency key) -> the request's fingerprint and its result: a repeat gets the same
        # answer. Keys are per person: the same key from someone else is their own request.
        self._done: dict[tuple[str, str, str], tuple[dict[str, Any], ActionResult]] = {}
        self._state.paid = order.total
        self._state.currency = order.currency

    @workflow.run
    async def run(self, inp: JourneyInput) -> JourneyState:
        """Confirm; wait for and track the parcels; follow up, ask for reviews, remind to reorder; keep the
        order open until its return window closes; then wait for what is still being sent and recorded."""
        if workflow.patched(PATCH_STALE_STEPS):  # what was due long before we heard of the order is stale
            intake = workflow.info().workflow_start_time  # when the journey was started, not when a worker got to it
            self._messenger.stale_before = stale_cutoff(self._policy, self._tz, intake)
        self._set_stage(Stage.CONFIRMED)
        placed_at = self._inp.order.placed_at
        confirmation = asyncio.create_task(self._messenger.send(Step.CONFIRMATION, due_at=placed_at))
        await self._track_parcels()
        if not self._cancelled():
            await self._after_delivery()  # follow-up, reviews, reorder reminders; open until returns close
        await confirmation
        await self._drain()
        self._state.completed_at = workflow.now()
        if not self._cancelled():
            self._set_stage(Stage.COMPLETED)
        self._publish_stage()
        self._state.next_action = None
        return self.state()

    # --- waiting for and tracking the parcels ----------------------------------------------------

    async def _track_parcels(self) -> None:
        """Start a child per parcel; alert on the fulfillment ladder while nothing has shipped."""
        rungs = [self._due(self._inp.order.placed_at, d) for d in self._policy.delays.fulfillment_ladder]
        level = 0
        self._set_stage(Stage.AWAITING_FULFILLMENT)
        while not self._cancelled() and not (
            fully_shipped(self._inp.order, self._state.parcels) and all(p.final for p in self._state.parcels)
        ):
            self._start_tracking()
            timeout: timedelta | None = None
            # what really comes next: a check that fired or a parcel that shipped leaves nothing behind
            self._state.next_action = None
            if not self._state.parcels and level < len(rungs):
                due = rungs[level]
                self._state.next_action = PlannedAction(what=f"fulfillment check {level + 1}", due_at=due)
                timeout = max(due - workflow.now(), timedelta(0))
            parcels_before = [(p.tracking_number, p.final) for p in self._state.parcels]
            self._publish_stage()

            def woken(before: list[tuple[str, bool]] = parcels_before) -> bool:
                """A parcel arrived, or changed, or the order was cancelled."""
                moved = [(p.tracking_number, p.final) for p in self._state.parcels] != before
                return bool(self._new_shipments) or self._cancelled() or moved

            try:
                await workflow.wait_condition(
                    woken,
                    timeout=timeout,
                    timeout_summary=FULFILLMENT_CHECK,
                )
            except TimeoutError:
                self._state.next_action = None  # this check is happening now, not next
                level += 1
                await self._fulfillment_late(level, rungs[level - 1])
        await asyncio.gather(*self._watchers)
        self._state.next_action = None

    async def _fulfillment_late(self, level: int, due_at: datetime) -> None:
        alert = DelayAlert(kind=DelayKind.FULFILLMENT_LATE, detected_at=workflow.now(), level=level)
        self._state.delays.append(alert)
        self._upsert()
        if DelayKind.FULFILLMENT_LATE in self._policy.steps.delay_alert.kinds:
            context = {"delay": {"kind": alert.kind.value, "level": level, "detail": "not shipped yet"}}
            send = self._messenger.send(
                Step.DELAY_ALERT,
                key_suffix=f"fulfillment_late-{level}",
                context=context,
                # shipped (or cancelled) overnight: no "not shipped" SMS in the morning
                still_relevant=lambda: not self._state.parcels and not self._cancelled(),
                due_at=due_at,
            )
            if self._messenger.must_wait(Step.DELAY_ALERT, due_at):
                self._held.append(asyncio.create_task(send))  # a shipment tonight must not wait for the morning
            else:
                await send

    def _start_tracking(self) -> None:
        while self._new_shipments:
            self._watchers.append(asyncio.create_task(self._track(self._new_shipments.pop(0))))

    async def _track(self, shipment: Shipment) -> None:
        """Run one parcel's tracking child to its end and keep its final word."""
        order, options = self._inp.order, self._inp.options
        if workflow.patched(PATCH_TENANT_IDS):  # an id per merchant, unambiguous (domain.shipment_workflow_id)
            child_id = shipment_workflow_id(order.merchant_id, shipment.tracked_via, shipment.tracking_number)
        else:
            child_id = legacy_shipment_workflow_id(shipment.tracked_via, shipment.tracking_number)
        parcel = ParcelState(
            carrier=shipment.carrier,
            provider=shipment.provider,
            tracking_number=shipment.tracking_number,
            workflow_id=child_id,
            items=shipment.items,
            exchange_id=shipment.exchange_id,
        )
        self._update_parcel(parcel)
        preferences = self._state.preferences
        handle = await workflow.start_child_workflow(
            ShipmentTracking.run,
            TrackingInput(
                parent_workflow_id=self._id,
                order=order,
                shipment=shipment,
                policy=self._policy,
                policy_hash=self._inp.policy_hash,
                started_at=workflow.now(),
                history_limit=options.tracking_history_limit,
                search_attributes=options.search_attributes,
                preferences=preferences,
                stale_before=self._messenger.stale_before,
            ),
            id=child_id,
            static_summary=f"{shipment.carrier} {shipment.tracking_number} for {self._id}",
        )
        self._children[shipment.tracking_number] = handle
        if self._state.preferences != preferences:  # support paused or opted out while the child was starting
            await handle.signal(ShipmentTracking.preferences_changed, self._state.preferences)
        try:
            final = await handle
        except ChildWorkflowError as err:
            final = parcel.model_copy(
                update={"status": TrackingStatus.UNKNOWN, "final": True, "last_description": f"tracking failed: {err}"}
            )
        self._update_parcel(final)

    def _update_parcel(self, parcel: ParcelState) -> None:
        parcels = {p.tracking_number: p for p in self._state.parcels}
        known = parcels.get(parcel.tracking_number)
        if known is not None and known.final and not parcel.final:
            return  # a report overtaken by the child's final result
        if known is not None and parcel.workflow_id is None:  # a child started before `tenant-ids` does not say
            parcel = parcel.model_copy(update={"workflow_id": known.workflow_id})
        parcels[parcel.tracking_number] = parcel
        self._state.parcels = list(parcels.values())
        seen = {(d.kind, d.tracking_number, d.detected_at) for d in self._state.delays}
        fresh = [d for d in parcel.delays if (d.kind, d.tracking_number, d.detected_at) not in seen]
        if fresh:
            self._state.delays.extend(fresh)
            self._upsert()
        if parcel.final and not (known and known.final):
            self._plan_changed = True
            if parcel.exchange_id and parcel.status is TrackingStatus.DELIVERED:
                self._replacement_delivered(parcel)
        self._set_stage(shipping_stage(self._inp.order, self._state.parcels, self._state.stage))

    # --- after delivery: the plan, until the return window closes ----------------------------------

    async def _after_delivery(self) -> None:
        """Work through the plan, and stay open for support until the return window closes."""
        own = originals(self._state.parcels)
        delivered = [p for p in own if p.status is TrackingStatus.DELIVERED and p.delivered_at]
        if not delivered:
            for step in (Step.FOLLOW_UP, Step.REVIEW_REQUEST):
                self._messenger.skip(step, SkipReason.NOT_APPLICABLE, detail="no parcel was delivered")
            return
        self._set_stage(Stage.POST_DELIVERY)
        delivered_at = max(p.delivered_at for p in delivered if p.delivered_at)
        returns_close = self._due(delivered_at, self._policy.returns.window)
        self._state.returns_open_until = returns_close
        received = received_items(self._inp.order, self._state.parcels)
        self._plan = build_plan(self._policy, self._tz, self._inp.order, delivered_at, received, self._messenger)
        while True:
            self._start_tracking()
            self._prune_plan()
            upcoming = next_ready(self._plan, self._state.exchanges)
            now = workflow.now()
            tracking = any(not p.final for p in self._state.parcels)
            if upcoming is None and now >= returns_close and not tracking:
                break
            wake: PlannedAction | None = None
            if upcoming is not None:
                wake = PlannedAction(what=upcoming.label, due_at=upcoming.due_at)
            if now < returns_close and (wake is None or returns_close < wake.due_at):
                wake = PlannedAction(what="return window closes", due_at=returns_close)
            self._state.next_action = wake
            self._plan_changed = False
            wait = wake.due_at - now if wake else None
            if wait is None or wait > timedelta(0):
                self._publish_stage()
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._plan_changed or bool(self._new_shipments),
                        timeout=wait,
                        timeout_summary=wake.what if wake else None,
                    )
                    continue  # a signal or an action changed the plan: look again
            if upcoming is not None and upcoming.due_at <= workflow.now():
                self._plan.remove(upcoming)
                await self._carry_out(upcoming)
        for planned in self._plan:  # held for a replacement that never arrived
            detail = "the exchange's replacement was not delivered"
            self._messenger.skip(planned.step, SkipReason.NOT_APPLICABLE, planned.key, detail, refusal_first=True)
        self._plan = []
        await asyncio.gather(*self._watchers)
        self._state.next_action = None

    def _prune_plan(self) -> None:
        """Drop what signals and refunds made moot; what refunds took away is recorded as skipped, with why."""
        self._plan, dropped = prune_plan(self._plan, self._inp.order, self._state)
        for planned, what in dropped:
            self._messenger.skip(planned.step, SkipReason.NOT_APPLICABLE, planned.key, what, refusal_first=True)

    async def _carry_out(self, planned: Planned) -> None:
        if planned.step is Step.REVIEW_REMINDER and not self._messenger.was_sent(Step.REVIEW_REQUEST, planned.key):
            self._messenger.skip(
                planned.step,
                SkipReason.NOT_APPLICABLE,
                planned.key,
                detail="the review request was not sent",
                refusal_first=True,  # no consent: say so, as for the request itself
            )
            return
        await self._messenger.send(planned.step, key_suffix=planned.key, context=planned.context, due_at=planned.due_at)

    def _replacement_delivered(self, parcel: ParcelState) -> None:
        """The replacement arrived: its reviews are due as long after this delivery as after the first."""
        exchange = self._exchange(parcel.exchange_id or "")
        if exchange is None or parcel.delivered_at is None:
            return
        exchange.replacement_delivered_at = parcel.delivered_at
        postpone_reviews(self._plan, self._policy, self._tz, exchange, parcel.delivered_at)

    async def _drain(self) -> None:
        """Wait for held messages, audit records and running handlers, including any they started."""
        while True:
            await asyncio.gather(*self._held)
            await workflow.wait_condition(workflow.all_handlers_finished)
            if all(t.done() for t in self._held):
                return

    # --- what the outside world tells us ---------------------------------------------------------

    @workflow.signal
    def shipment_created(self, shipment: Shipment) -> None:
        """A parcel left the warehouse (fulfillment webhook). The same parcel twice changes nothing."""
        if shipment.tracking_number in self._known_parcels:
            return
        if self._state.cancelled_at is not None:
            workflow.logger.warning("order cancelled; parcel %s is not tracked", shipment.tracking_number)
            return
        if shipment.exchange_id is not None:
            exchange = self._exchange(shipment.exchange_id)
            if exchange is None:
                workflow.logger.warning("parcel %s: no exchange %s", shipment.tracking_number, shipment.exchange_id)
                return
            exchange.replacement_tracking_number = shipment.tracking_number
        self._known_parcels.add(shipment.tracking_number)
        # a parcel naming no provider is tracked through the merchant's (old-form `carrier: easypost` stays as is)
        self._new_shipments.append(shipment.with_provider(self._policy.tracking.provider))

    @workflow.signal(name=SHIPMENT_PROGRESS_SIGNAL)
    def shipment_progress(self, parcel: ParcelState) -> None:
        """A tracking child's report: status, EDD, delays."""
        self._update_parcel(parcel)

    @workflow.signal
    def review_submitted(self, review: ReviewSubmitted) -> None:
        if review.item_ids:
            self._state.reviewed_items = sorted(set(self._state.reviewed_items) | set(review.item_ids))
        else:
            self._state.review_submitted = True
        self._plan_changed = True

    @workflow.signal
    def reordered(self, reorder: Reordered) -> None:
        if reorder.skus:
            self._state.reordered_skus = sorted(set(self._state.reordered_skus) | set(reorder.skus))
        else:
            self._state.reorder_cancelled = True
        self._plan_changed = True

    @workflow.query
    def state(self) -> JourneyState:
        """The whole journey: parcels, every message sent or skipped (with reason), what is planned next."""
        planned = planned_actions(self._plan, self._state.exchanges)
        messages = list(self._messenger.outcomes)
        for parcel in self._state.parcels:
            messages.extend(parcel.messages)
        messages.sort(key=lambda o: o.at or self._inp.order.placed_at)
        refunded = refunded_total(self._state)
        return self._state.model_copy(
            update={
                "messages": messages,
                "planned": planned,
                "next_action": planned[0] if planned else self._state.next_action,
                "refunded_total": refunded,
                "refundable": self._inp.order.total - refunded,
            }
        )

    # --- what support asks for (Updates; the handlers are in workflows.support_updates) ---------------

    @workflow.update(name=act.REFUND)
    async def refund(self, cmd: act.RefundCommand) -> ActionResult:
        """Money back through the payment provider; refunded items drop out of reviews and reorders."""
        return await self._on_refund(cmd)

    @refund.validator
    def _validate_refund(self, cmd: act.RefundCommand) -> None:
        self._vet_refund(cmd)

    @workflow.update(name=act.EXCHANGE)
    async def exchange(self, cmd: act.ExchangeCommand) -> ActionResult:
        """A return label for the items, the replacement tracked like any parcel, the review held until it arrives."""
        return await self._on_exchange(cmd)

    @exchange.validator
    def _validate_exchange(self, cmd: act.ExchangeCommand) -> None:
        self._vet_exchange(cmd)

    @workflow.update(name=act.CANCEL)
    async def cancel(self, cmd: act.CancelCommand) -> ActionResult:
        """Before anything shipped: refund per policy, tell the customer, and end the journey."""
        return await self._on_cancel(cmd)

    @cancel.validator
    def _validate_cancel(self, cmd: act.CancelCommand) -> None:
        self._vet_cancel(cmd)

    @workflow.update(name=act.PAUSE)
    async def pause_messages(self, cmd: act.PauseCommand) -> ActionResult:
        """Hold back the journey's messages (not answers to support's own actions) until resumed or `until`."""
        return await self._on_pause(cmd)

    @pause_messages.validator
    def _validate_pause(self, cmd: act.PauseCommand) -> None:
        self._vet_pause(cmd)

    @workflow.update(name=act.RESUME)
    async def resume_messages(self, cmd: act.ResumeCommand) -> ActionResult:
        return await self._on_resume(cmd)

    @resume_messages.validator
    def _validate_resume(self, cmd: act.ResumeCommand) -> None:
        self._vet_resume(cmd)

    @workflow.update(name=act.OPT_OUT)
    async def opt_out(self, cmd: act.OptOutCommand) -> ActionResult:
        """The customer wants no more messages on these channels from this order."""
        return await self._on_opt_out(cmd)

    @opt_out.validator
    def _validate_opt_out(self, cmd: act.OptOutCommand) -> None:
        self._vet_opt_out(cmd)

    @workflow.update(name=act.ADD_NOTE)
    async def add_note(self, cmd: act.NoteCommand) -> ActionResult:
        """Free text on the order's record, for the next person who picks it up."""
        return await self._on_note(cmd)

    @add_note.validator
    def _validate_note(self, cmd: act.NoteCommand) -> None:
        self._vet_note(cmd)

    # --- helpers --------------------------------------------------------------------------------

    def _cancelled(self) -> bool:
        return self._state.cancelled_at is not None

    def _exchange(self, exchange_id: str) -> ExchangeRecord | None:
        return next((e for e in self._state.exchanges if e.exchange_id == exchange_id), None)

    def _due(self, start: datetime, duration: Duration) -> datetime:
        return due(self._policy, self._tz, start, duration)

    def _set_stage(self, stage: Stage) -> None:
        self._state.stage = stage

    def _publish_stage(self) -> None:
        """Make the stage findable, once per wait rather than per passing stage: stages a journey only
        passes through inside one workflow task (confirmed, delivered) would each cost a history event."""
        if self._published_stage is not self._state.stage:
            self._upsert()

    def _upsert(self) -> None:
        if not self._inp.options.search_attributes:
            return
        self._published_stage = self._state.stage
        # More attributes in an upsert the journey already makes replay fine: no patch needed (the replay test
        # of the saved histories says so). A new upsert where there was none needs one, as the tracking child's.
        workflow.upsert_search_attributes(journey_search_attributes(self._inp.order, self._state))
