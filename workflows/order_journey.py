"""`OrderJourney`: one order from "thanks for your order" to "time to reorder".

`setup` then `run`: confirmation; waiting for parcels (with the fulfillment-late ladder) and one
`ShipmentTracking` child per parcel; then the post-delivery plan (follow-up, review request and
reminder, reorder reminders) that signals can prune at any moment. Completes when nothing is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from domain import DelayAlert, DelayKind, Shipment, SkipReason, Step, TrackingStatus
    from policies.durations import Duration
    from workflows.messenger import Messenger
    from workflows.models import (
        JourneyInput,
        JourneyState,
        ParcelState,
        PlannedAction,
        Reordered,
        ReviewSubmitted,
        Stage,
        TrackingInput,
    )
    from workflows.shipment_tracking import SHIPMENT_PROGRESS_SIGNAL, ShipmentTracking
    from workflows.timecalc import add_duration, sub_duration, zone

SA_MERCHANT = SearchAttributeKey.for_keyword("AftercareMerchant")
SA_CUSTOMER = SearchAttributeKey.for_keyword("AftercareCustomer")
SA_STAGE = SearchAttributeKey.for_keyword("AftercareStage")
SA_DELAYED = SearchAttributeKey.for_bool("AftercareDelayed")

# Parcels whose items never reached the customer: no review, no reorder for those.
_NOT_RECEIVED = frozenset({TrackingStatus.RETURNED, TrackingStatus.CANCELLED})


@dataclass
class _Planned:
    """One future message of the post-delivery plan."""

    due_at: datetime
    step: Step
    key: str
    item_id: str | None = None
    sku: str | None = None
    context: dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.step.value}" + (f" ({self.item_id})" if self.item_id else "")


@workflow.defn
class OrderJourney:
    @workflow.init
    def __init__(self, inp: JourneyInput) -> None:
        order = inp.order
        self._inp = inp
        self._policy = inp.policy.for_order(order)
        self._tz = zone(self._policy.merchant.timezone)
        self._messenger = Messenger(order, self._policy, inp.policy_hash, key_prefix=order.workflow_id)
        self._state = JourneyState(
            workflow_id=order.workflow_id,
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            policy_hash=inp.policy_hash,
            variants=inp.policy.matching_variants(order),
        )
        self._new_shipments: list[Shipment] = []
        self._known_parcels: set[str] = set()
        self._children: dict[str, ChildWorkflowHandle[ShipmentTracking, ParcelState]] = {}
        self._plan: list[_Planned] = []
        self._plan_changed = False
        self._published_stage: Stage | None = None
        self._held: list[asyncio.Task[object]] = []  # messages waiting out quiet hours

    # --- what the outside world tells us ---------------------------------------------------------

    @workflow.signal
    def shipment_created(self, shipment: Shipment) -> None:
        """A parcel left the warehouse (fulfillment webhook). The same parcel twice changes nothing."""
        if shipment.tracking_number in self._known_parcels:
            return
        self._known_parcels.add(shipment.tracking_number)
        self._new_shipments.append(shipment)

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
        planned = [PlannedAction(what=p.label, due_at=p.due_at) for p in sorted(self._plan, key=_due)]
        messages = list(self._messenger.outcomes)
        for parcel in self._state.parcels:
            messages.extend(parcel.messages)
        messages.sort(key=lambda o: o.at or self._inp.order.placed_at)
        return self._state.model_copy(
            update={
                "messages": messages,
                "planned": planned,
                "next_action": planned[0] if planned else self._state.next_action,
            }
        )

    # --- the journey ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: JourneyInput) -> JourneyState:
        self._set_stage(Stage.CONFIRMED)
        confirmation = asyncio.create_task(self._messenger.send(Step.CONFIRMATION))
        await self._until_parcels_done()
        await self._post_delivery()
        await confirmation
        await asyncio.gather(*self._held)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.completed_at = workflow.now()
        self._set_stage(Stage.COMPLETED)
        self._publish_stage()
        self._state.next_action = None
        return self.state()

    async def _until_parcels_done(self) -> None:
        """Start a child per parcel; alert on the fulfillment ladder while nothing has shipped."""
        rungs = [self._due(self._inp.order.placed_at, d) for d in self._policy.delays.fulfillment_ladder]
        level = 0
        watchers: list[asyncio.Task[None]] = []
        self._set_stage(Stage.AWAITING_FULFILLMENT)
        while not (self._fully_shipped() and all(p.final for p in self._state.parcels)):
            while self._new_shipments:
                watchers.append(asyncio.create_task(self._track(self._new_shipments.pop(0))))
            timeout: timedelta | None = None
            if not self._state.parcels and level < len(rungs):
                due = rungs[level]
                self._state.next_action = PlannedAction(what=f"fulfillment check {level + 1}", due_at=due)
                timeout = max(due - workflow.now(), timedelta(0))
            parcels_before = [(p.tracking_number, p.final) for p in self._state.parcels]
            self._publish_stage()
            try:
                await workflow.wait_condition(
                    lambda pb=parcels_before: (
                        bool(self._new_shipments) or [(p.tracking_number, p.final) for p in self._state.parcels] != pb
                    ),
                    timeout=timeout,
                    timeout_summary="fulfillment SLA",
                )
            except TimeoutError:
                level += 1
                await self._fulfillment_late(level)
        await asyncio.gather(*watchers)
        self._state.next_action = None

    async def _fulfillment_late(self, level: int) -> None:
        alert = DelayAlert(kind=DelayKind.FULFILLMENT_LATE, detected_at=workflow.now(), level=level)
        self._state.delays.append(alert)
        self._upsert(SA_DELAYED.value_set(True))
        if DelayKind.FULFILLMENT_LATE in self._policy.steps.delay_alert.kinds:
            context = {"delay": {"kind": alert.kind.value, "level": level, "detail": "not shipped yet"}}
            send = self._messenger.send(
                Step.DELAY_ALERT,
                key_suffix=f"fulfillment_late-{level}",
                context=context,
                still_relevant=lambda: not self._state.parcels,  # shipped overnight: no "not shipped" SMS
            )
            if self._messenger.must_wait(Step.DELAY_ALERT):
                self._held.append(asyncio.create_task(send))  # a shipment tonight must not wait for the morning
            else:
                await send

    async def _track(self, shipment: Shipment) -> None:
        """Run one parcel's tracking child to its end and keep its final word."""
        parcel = ParcelState(carrier=shipment.carrier, tracking_number=shipment.tracking_number, items=shipment.items)
        self._update_parcel(parcel)
        order, options = self._inp.order, self._inp.options
        handle = await workflow.start_child_workflow(
            ShipmentTracking.run,
            TrackingInput(
                parent_workflow_id=order.workflow_id,
                order=order,
                shipment=shipment,
                policy=self._policy,
                policy_hash=self._inp.policy_hash,
                started_at=workflow.now(),
                history_limit=options.tracking_history_limit,
                search_attributes=options.search_attributes,
            ),
            id=shipment.workflow_id,
            static_summary=f"{shipment.carrier} {shipment.tracking_number} for {order.workflow_id}",
        )
        self._children[shipment.tracking_number] = handle
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
        parcels[parcel.tracking_number] = parcel
        self._state.parcels = list(parcels.values())
        seen = {(d.kind, d.tracking_number, d.detected_at) for d in self._state.delays}
        fresh = [d for d in parcel.delays if (d.kind, d.tracking_number, d.detected_at) not in seen]
        if fresh:
            self._state.delays.extend(fresh)
            self._upsert(SA_DELAYED.value_set(True))
        self._refresh_stage()

    def _fully_shipped(self) -> bool:
        """Every unit of every line item is in some parcel (a parcel without item list carries all)."""
        parcels = self._state.parcels
        if any(not p.items for p in parcels):
            return True
        shipped: dict[str, int] = {}
        for p in parcels:
            for item_id, qty in p.items.items():
                shipped[item_id] = shipped.get(item_id, 0) + qty
        return bool(parcels) and all(shipped.get(i.id, 0) >= i.quantity for i in self._inp.order.items)

    def _refresh_stage(self) -> None:
        parcels = self._state.parcels
        if not parcels or self._state.stage in (Stage.POST_DELIVERY, Stage.COMPLETED):
            return
        if not self._fully_shipped():
            self._set_stage(Stage.PARTIALLY_SHIPPED)
        elif all(p.status is TrackingStatus.DELIVERED for p in parcels):
            self._set_stage(Stage.DELIVERED)
        else:
            self._set_stage(Stage.IN_TRANSIT)

    # --- after delivery ---------------------------------------------------------------------------

    async def _post_delivery(self) -> None:
        delivered = [p for p in self._state.parcels if p.status is TrackingStatus.DELIVERED and p.delivered_at]
        if not delivered:
            for step in (Step.FOLLOW_UP, Step.REVIEW_REQUEST):
                self._messenger.skip(step, SkipReason.NOT_APPLICABLE, detail="no parcel was delivered")
            return
        self._set_stage(Stage.POST_DELIVERY)
        delivered_at = max(p.delivered_at for p in delivered if p.delivered_at)
        self._plan = self._build_plan(delivered_at, self._received_items())
        while self._plan:
            self._prune_plan()
            if not self._plan:
                break
            upcoming = min(self._plan, key=_due)
            self._state.next_action = PlannedAction(what=upcoming.label, due_at=upcoming.due_at)
            self._plan_changed = False
            wait = upcoming.due_at - workflow.now()
            if wait > timedelta(0):
                self._publish_stage()
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._plan_changed, timeout=wait, timeout_summary=upcoming.label
                    )
                    continue  # a signal changed the plan: look again
            self._plan.remove(upcoming)
            await self._carry_out(upcoming)
        self._state.next_action = None

    def _received_items(self) -> dict[str, int]:
        """Line items (id -> quantity) the customer actually received."""
        received: dict[str, int] = {}
        for p in self._state.parcels:
            if p.status is not TrackingStatus.DELIVERED:
                continue
            items = p.items or {i.id: i.quantity for i in self._inp.order.items}
            for item_id, qty in items.items():
                received[item_id] = received.get(item_id, 0) + qty
        return received

    def _build_plan(self, delivered_at: datetime, received: dict[str, int]) -> list[_Planned]:
        steps, order, prefix = self._policy.steps, self._inp.order, "post"
        plan: list[_Planned] = []
        if steps.follow_up.enabled:
            plan.append(_Planned(self._due(delivered_at, steps.follow_up.after), Step.FOLLOW_UP, prefix))
        review = steps.review_request
        if review.enabled:
            review_due = self._due(delivered_at, review.after)
            targets: list[str | None] = [None] if review.per == "order" else [i for i in received if order.item(i)]
            for item_id in targets:
                item = order.item(item_id) if item_id else None
                context = {"item": item.model_dump(mode="json")} if item else {}
                plan.append(_Planned(review_due, Step.REVIEW_REQUEST, item_id or "order", item_id, context=context))
                if review.reminder_after is not None:
                    reminder_due = self._due(review_due, review.reminder_after)
                    plan.append(
                        _Planned(reminder_due, Step.REVIEW_REMINDER, item_id or "order", item_id, context=context)
                    )
        if steps.reorder_reminder.enabled:
            plan.extend(self._reorder_plan(delivered_at, received))
        return plan

    def _reorder_plan(self, delivered_at: datetime, received: dict[str, int]) -> list[_Planned]:
        plan: list[_Planned] = []
        for item_id, qty in received.items():
            item = self._inp.order.item(item_id)
            rule = next((r for r in self._policy.reorder if item and r.matches(item.sku)), None)
            if item is None or rule is None:
                continue
            runs_out = delivered_at + timedelta(days=rule.supply_days_per_unit * qty)
            defaults = self._policy.defaults
            before = sub_duration(
                runs_out,
                rule.remind_before,
                tz=self._tz,
                business_days=defaults.business_days,
                holidays=defaults.holidays,
            )
            due = max(before, delivered_at)
            context = {
                "reorder": {"sku": item.sku, "name": item.name},
                "links": self._messenger.base_context()["links"]
                | ({"reorder": link} if (link := self._messenger.link("reorder", sku=item.sku)) else {}),
            }
            for n in range(1, rule.max_reminders + 1):
                plan.append(_Planned(due, Step.REORDER_REMINDER, f"{item_id}-{n}", item_id, item.sku, context))
                if rule.repeat_every is None:
                    break
                due = self._due(due, rule.repeat_every)
        return plan

    def _prune_plan(self) -> None:
        """Drop what signals made moot: reviews already written, reminders for SKUs bought again."""
        state = self._state

        def moot(p: _Planned) -> bool:
            if p.step in (Step.REVIEW_REQUEST, Step.REVIEW_REMINDER):
                return state.review_submitted or (p.item_id is not None and p.item_id in state.reviewed_items)
            if p.step is Step.REORDER_REMINDER:
                return state.reorder_cancelled or p.sku in state.reordered_skus
            return False

        self._plan = [p for p in self._plan if not moot(p)]

    async def _carry_out(self, planned: _Planned) -> None:
        if planned.step is Step.REVIEW_REMINDER and not self._was_sent(Step.REVIEW_REQUEST, planned.key):
            self._messenger.skip(
                planned.step,
                SkipReason.NOT_APPLICABLE,
                planned.key,
                detail="the review request was not sent",
                refusal_first=True,  # no consent: say so, as for the request itself
            )
            return
        await self._messenger.send(planned.step, key_suffix=planned.key, context=planned.context)

    def _was_sent(self, step: Step, key_suffix: str) -> bool:
        prefix = f"{self._inp.order.workflow_id}:{step.value}:"
        return any(
            o.status == "sent" and o.idempotency_key.startswith(prefix) and o.idempotency_key.endswith(f":{key_suffix}")
            for o in self._messenger.outcomes
        )

    # --- helpers --------------------------------------------------------------------------------

    def _due(self, start: datetime, duration: Duration) -> datetime:
        defaults = self._policy.defaults
        return add_duration(
            start, duration, tz=self._tz, business_days=defaults.business_days, holidays=defaults.holidays
        )

    def _set_stage(self, stage: Stage) -> None:
        self._state.stage = stage

    def _publish_stage(self) -> None:
        """Make the stage findable, once per wait rather than per passing stage: stages a journey only
        passes through inside one workflow task (confirmed, delivered) would each cost a history event."""
        if self._published_stage is not self._state.stage:
            self._upsert()

    def _upsert(self, *updates: SearchAttributeUpdate) -> None:
        if not self._inp.options.search_attributes:
            return
        order = self._inp.order
        self._published_stage = self._state.stage
        workflow.upsert_search_attributes(
            [
                SA_MERCHANT.value_set(order.merchant_id),
                SA_CUSTOMER.value_set(order.customer.id),
                SA_STAGE.value_set(self._state.stage.value),
                *updates,
            ]
        )


def _due(p: _Planned | PlannedAction) -> datetime:
    return p.due_at
