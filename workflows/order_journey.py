"""`OrderJourney`: one order from "thanks for your order" to "time to reorder".

`setup` then `run`: confirmation; waiting for parcels (with the fulfillment-late ladder) and one
`ShipmentTracking` child per parcel; then the post-delivery plan (follow-up, review request and
reminder, reorder reminders) that signals can prune at any moment. The journey stays open until the
return window closes, so support can act on it; it completes when nothing is left.

Support acts through Updates (refund, exchange, cancel, pause/resume, opt-out, notes): a validator refuses
a wrong request before anything happens; handlers run one at a time under a lock and check again, so two
agents at once never refund more than was paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from domain import (
        Actor,
        AuditEntry,
        DelayAlert,
        DelayKind,
        FoundRefund,
        PaymentFacts,
        PaymentLookup,
        RefundInstruction,
        RefundReason,
        RefundReceipt,
        ReturnLabel,
        ReturnLabelRequest,
        Shipment,
        SkipReason,
        Step,
        TrackingStatus,
        legacy_shipment_workflow_id,
        shipment_workflow_id,
    )
    from domain.payments import PAYMENT_NOT_CONFIGURED, PAYMENT_REFUSED
    from policies.durations import Duration
    from workflows import actions as act
    from workflows.actions import (
        ActionRecord,
        ActionResult,
        CancelCommand,
        ExchangeCommand,
        ExchangeRecord,
        NoteCommand,
        OptOutCommand,
        PauseCommand,
        RefundCommand,
        RefundRecord,
        ResumeCommand,
    )
    from workflows.messenger import Messenger
    from workflows.models import (
        FULFILLMENT_CHECK,
        PATCH_TENANT_IDS,
        SA_CUSTOMER,
        SA_DELAY_KINDS,
        SA_DELAYED,
        SA_MERCHANT,
        SA_ORDER_VALUE,
        SA_STAGE,
        JourneyInput,
        JourneyState,
        MessagePreferences,
        ParcelState,
        PlannedAction,
        Reordered,
        ReviewSubmitted,
        Stage,
        TrackingInput,
    )
    from workflows.plan import (
        Planned,
        blocked,
        build_plan,
        by_due,
        due,
        next_ready,
        postpone_reviews,
        prune_plan,
        received_items,
    )
    from workflows.shipment_tracking import SHIPMENT_PROGRESS_SIGNAL, ShipmentTracking
    from workflows.support import (
        Refusal,
        cancel_check,
        delivered_at,
        exchange_bonus,
        exchange_check,
        money,
        payment_check,
        payments_configured,
        refund_terms,
        refunded_total,
    )
    from workflows.timecalc import zone


# Parcels whose items never reached the customer: no review, no reorder for those.
_NOT_RECEIVED = frozenset({TrackingStatus.RETURNED, TrackingStatus.CANCELLED})

ISSUE_REFUND = "issue_refund"
LOOK_UP_PAYMENT = "look_up_payment"
FIND_REFUND = "find_refund"
CREATE_RETURN_LABEL = "create_return_label"
RECORD_ACTION = "record_action"
# A person is waiting for these: a few quick retries (the provider's idempotency key makes them safe), then
# the error goes back to them rather than hanging for hours.
PROVIDER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
PROVIDER_TIMEOUT = timedelta(seconds=30)
PROVIDER_DEADLINE = timedelta(minutes=2)
AUDIT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
SUPPORT_V2 = "support-checked-at-provider"
"""Patch: refunds look the payment up in the merchant's own account first and may end `unknown` (held, then
looked up before anything else is refunded); keys are per person; provider failures are audited; a second
pause is refused. Journeys that handled support's requests before it replay the old way."""
PROVIDER_KEY_MAX = 200  # Stripe takes idempotency keys up to 255 characters
PAUSE_MAX = timedelta(days=366)  # a pause with an end is for a holiday or a stay in hospital, not for ever


@workflow.defn
class OrderJourney:
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
        planned = [
            PlannedAction(
                what=p.label
                + (" (after the exchange's replacement arrives)" if blocked(p, self._state.exchanges) else ""),
                due_at=p.due_at,
            )
            for p in sorted(self._plan, key=by_due)
        ]
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

    # --- what support asks for (Updates) -----------------------------------------------------------

    @workflow.update(name=act.REFUND)
    async def refund(self, cmd: RefundCommand) -> ActionResult:
        """Money back through the payment provider; refunded items drop out of reviews and reorders."""
        async with self._lock:
            if workflow.patched(SUPPORT_V2):
                return await self._refund_checked(cmd)
            if (done := self._repeat(act.REFUND, cmd.idempotency_key, cmd)) is not None:
                return done
            amount, items = _checked(lambda: refund_terms(self._inp.order, self._state, cmd))
            assert cmd.reason is not None
            before = self._summary()
            record = await self._issue_refund(cmd.idempotency_key, amount, items, cmd.reason, cmd.note, cmd.actor)
            self._plan_changed = True
            self._send_later(
                Step.REFUND_ISSUED,
                f"refund-{cmd.idempotency_key}",
                {"refund": {"amount": str(record.amount), "currency": record.currency, "reason": record.reason.value}},
            )
            result = self._result(
                act.REFUND, f"refunded {money(record.amount, record.currency)} ({record.reason.value})", refund=record
            )
            return self._finish(act.REFUND, cmd, result, before, key=cmd.idempotency_key)

    @refund.validator
    def _validate_refund(self, cmd: RefundCommand) -> None:
        if self._seen(act.REFUND, cmd.idempotency_key, cmd):
            return
        _checked(lambda: payments_configured(self._inp.order, self._policy))
        # A refund whose outcome is unknown is settled by the handler before this one: the validator cannot ask
        # the provider, so it judges as if it had not been made and the handler checks again once it knows.
        unsettled = [r for r in self._state.refunds if r.status == "unknown"]
        state = self._state.model_copy(update={"refunds": [r for r in self._state.refunds if r not in unsettled]})
        _checked(lambda: refund_terms(self._inp.order, state, cmd))

    async def _refund_checked(self, cmd: RefundCommand) -> ActionResult:
        """A refund as it is done now: earlier unknown outcomes settled first, then the payment looked up in the
        merchant's own account (it must be there), then at most what both we and the provider say is left."""
        order = self._inp.order
        done = self._repeat(act.REFUND, cmd.idempotency_key, cmd)
        if done is not None and (done.refund is None or done.refund.status != "unknown"):
            return done  # the same request again: its answer, without asking the provider
        before = self._summary()
        with self._audit_failure(act.REFUND, cmd, before):
            await self._settle_unknown_refunds()
        if done is not None:
            return self._repeat(act.REFUND, cmd.idempotency_key, cmd) or done  # with what the lookup found
        _checked(lambda: payments_configured(order, self._policy))
        _checked(lambda: refund_terms(order, self._state, cmd))
        assert cmd.reason is not None
        reason = cmd.reason
        before = self._summary()
        with self._audit_failure(act.REFUND, cmd, before):
            facts = await self._payment_facts()
            amount, items = _checked(lambda: refund_terms(order, self._state, cmd, facts))
            record = await self._refund_at_provider(
                self._provider_key("refund", cmd.actor, cmd.idempotency_key),
                cmd.idempotency_key,
                amount,
                items,
                reason,
                cmd.note,
                cmd.actor,
            )
        self._plan_changed = True
        what = f"{money(record.amount, record.currency)} ({record.reason.value})"
        if record.status == "unknown":
            result = self._result(act.REFUND, _unknown_summary(record), refund=record)
            return self._finish(act.REFUND, cmd, result, before, key=cmd.idempotency_key, outcome="unknown")
        self._tell_refunded(record)
        result = self._result(act.REFUND, f"refunded {what}", refund=record)
        return self._finish(act.REFUND, cmd, result, before, key=cmd.idempotency_key)

    @workflow.update(name=act.EXCHANGE)
    async def exchange(self, cmd: ExchangeCommand) -> ActionResult:
        """A return label for the items, the replacement tracked like any parcel, the review held until it arrives."""
        async with self._lock:
            if (done := self._repeat(act.EXCHANGE, cmd.idempotency_key, cmd)) is not None:
                return done
            order, policy = self._inp.order, self._policy
            _checked(lambda: exchange_check(order, policy, self._state, cmd, workflow.now(), self._window_ends()))
            assert policy.returns.address is not None
            before = self._summary()
            back = {}
            for entry in cmd.items:
                back[entry.item_id] = back.get(entry.item_id, 0) + entry.quantity
            to_customer = order.shipping_address
            if not to_customer.name:
                customer = order.customer
                name = " ".join(n for n in (customer.first_name, customer.last_name) if n) or None
                to_customer = to_customer.model_copy(update={"name": name})
            request = ReturnLabelRequest(
                idempotency_key=self._provider_key("exchange", cmd.actor, cmd.idempotency_key),
                merchant_id=order.merchant_id,
                order_id=order.order_id,
                carrier=policy.returns.label_carrier,
                from_address=to_customer,
                to_address=policy.returns.address,
                items=back,
            )
            with self._audit_failure(act.EXCHANGE, cmd, before):
                label = await self._call_provider(
                    CREATE_RETURN_LABEL, request, ReturnLabel, "label_failed", "no return label could be made"
                )
            record = ExchangeRecord(
                exchange_id=f"EX{len(self._state.exchanges) + 1}",
                key=cmd.idempotency_key,
                items=cmd.items,
                reason=cmd.reason,
                label=label,
                bonus=exchange_bonus(order, policy, cmd.items),
                by=cmd.actor,
                at=workflow.now(),
            )
            self._state.exchanges.append(record)
            self._plan_changed = True
            bonus = record.bonus
            context = {
                "exchange": {
                    "id": record.exchange_id,
                    "label_url": label.label_url,
                    "bonus": f"{money(bonus.amount, bonus.currency)} store credit" if bonus else None,
                    "items": [i.model_dump(mode="json") for i in record.items],
                }
            }
            self._send_later(Step.EXCHANGE_CREATED, f"exchange-{_message_key(cmd.actor, cmd.idempotency_key)}", context)
            swaps = ", ".join(f"{i.quantity}x {i.item_id} for {i.replacement_sku}" for i in record.items)
            summary = f"exchange {record.exchange_id}: {swaps}; return label {label.tracking_number}"
            if bonus:
                summary += f"; bonus {money(bonus.amount, bonus.currency)}"
            result = self._result(act.EXCHANGE, summary, exchange=record)
            return self._finish(act.EXCHANGE, cmd, result, before, key=cmd.idempotency_key)

    @exchange.validator
    def _validate_exchange(self, cmd: ExchangeCommand) -> None:
        if self._seen(act.EXCHANGE, cmd.idempotency_key, cmd):
            return
        _checked(
            lambda: exchange_check(self._inp.order, self._policy, self._state, cmd, workflow.now(), self._window_ends())
        )

    @workflow.update(name=act.CANCEL)
    async def cancel(self, cmd: CancelCommand) -> ActionResult:
        """Before anything shipped: refund per policy, tell the customer, and end the journey."""
        async with self._lock:
            _checked(lambda: cancel_check(self._state, cmd))
            before = self._summary()
            order = self._inp.order
            record: RefundRecord | None = None
            refundable = order.total - refunded_total(self._state)
            note = ""
            if self._policy.cancellation.refund == "full" and refundable > 0:
                if order.payment is None:
                    note = "; no payment reference, so refund it at the payment provider"
                elif workflow.patched(SUPPORT_V2):
                    record, note = await self._refund_on_cancel(cmd, before)
                else:
                    items = {i.id: i.quantity for i in order.items}
                    reason_note = f"order cancelled: {cmd.reason}"
                    record = await self._issue_refund(
                        "cancel", refundable, items, RefundReason.OTHER, reason_note, cmd.actor
                    )
            self._state.cancelled_at = workflow.now()
            self._state.cancel_reason = cmd.reason
            self._set_stage(Stage.CANCELLED)
            self._publish_stage()
            self._plan, self._plan_changed = [], True
            told = record is not None and record.status != "unknown"  # never promise money we are not sure of
            context = {"refund": {"amount": str(record.amount), "currency": record.currency}} if record and told else {}
            self._send_later(Step.CANCELLED, "", context)
            refunded = f"; refunded {money(record.amount, record.currency)}" if record and told else ""
            result = self._result(act.CANCEL, f"cancelled: {cmd.reason}{refunded}{note}", refund=record)
            return self._finish(act.CANCEL, cmd, result, before)

    @cancel.validator
    def _validate_cancel(self, cmd: CancelCommand) -> None:
        _checked(lambda: cancel_check(self._state, cmd))

    @workflow.update(name=act.PAUSE)
    async def pause_messages(self, cmd: PauseCommand) -> ActionResult:
        """Hold back the journey's messages (not answers to support's own actions) until resumed or `until`."""
        async with self._lock:
            if workflow.patched(SUPPORT_V2):
                _checked(lambda: self._pause_check(cmd))  # a second agent's pause, admitted alongside the first
            before = self._summary()
            prefs = self._state.preferences.model_copy(update={"paused": True, "paused_until": cmd.until})
            await self._set_preferences(prefs)
            until = f" until {cmd.until:%Y-%m-%d %H:%M} UTC" if cmd.until else " until resumed"
            return self._finish(act.PAUSE, cmd, self._result(act.PAUSE, f"messages paused{until}"), before)

    @pause_messages.validator
    def _validate_pause(self, cmd: PauseCommand) -> None:
        _checked(lambda: self._pause_check(cmd))

    def _pause_check(self, cmd: PauseCommand) -> None:
        prefs, now = self._state.preferences, workflow.now()
        if prefs.paused_at(now):
            until = f" until {prefs.paused_until:%Y-%m-%d %H:%M} UTC" if prefs.paused_until else " until resumed"
            raise Refusal(
                409,
                "already_paused",
                f"this order's messages are already paused{until}; resume them first to pause with another end",
            )
        if cmd.until is not None and cmd.until <= now:
            raise Refusal(422, "until_in_past", f"until {cmd.until.isoformat()} is not in the future")
        if cmd.until is not None and cmd.until > now + PAUSE_MAX:
            raise Refusal(
                422,
                "until_too_far",
                f"until {cmd.until.isoformat()} is more than {PAUSE_MAX.days} days away; pause without until "
                f"to hold messages until resumed",
            )

    @workflow.update(name=act.RESUME)
    async def resume_messages(self, cmd: ResumeCommand) -> ActionResult:
        async with self._lock:
            _checked(self._check_paused)
            before = self._summary()
            resumed = self._state.preferences.model_copy(update={"paused": False, "paused_until": None})
            await self._set_preferences(resumed)
            return self._finish(act.RESUME, cmd, self._result(act.RESUME, "messages resumed"), before)

    @resume_messages.validator
    def _validate_resume(self, cmd: ResumeCommand) -> None:
        _checked(self._check_paused)

    @workflow.update(name=act.OPT_OUT)
    async def opt_out(self, cmd: OptOutCommand) -> ActionResult:
        """The customer wants no more messages on these channels from this order."""
        async with self._lock:
            new = _checked(lambda: self._new_opt_outs(cmd))
            before = self._summary()
            prefs = self._state.preferences
            await self._set_preferences(prefs.model_copy(update={"opted_out": sorted({*prefs.opted_out, *new})}))
            summary = f"opted out of {', '.join(c.value for c in new)}"
            return self._finish(act.OPT_OUT, cmd, self._result(act.OPT_OUT, summary), before)

    @opt_out.validator
    def _validate_opt_out(self, cmd: OptOutCommand) -> None:
        _checked(lambda: self._new_opt_outs(cmd))

    @workflow.update(name=act.ADD_NOTE)
    async def add_note(self, cmd: NoteCommand) -> ActionResult:
        """Free text on the order's record, for the next person who picks it up."""
        async with self._lock:
            before = self._summary()
            self._state.notes.append(act.Note(text=cmd.text.strip(), by=cmd.actor, at=workflow.now()))
            preview = cmd.text.strip().splitlines()[0][:80]
            return self._finish(act.ADD_NOTE, cmd, self._result(act.ADD_NOTE, f"note: {preview}"), before)

    @add_note.validator
    def _validate_note(self, cmd: NoteCommand) -> None:
        if not cmd.text.strip():
            raise Refusal(422, "empty_note", "a note needs some text").to_error()

    # --- how support's handlers work ----------------------------------------------------------------

    def _seen(self, action: str, key: str, cmd: act.Command) -> bool:
        """True if this person's idempotency key already did exactly this; a different request under it is
        refused. Someone else's use of the same key is theirs, not this person's."""
        known = self._done.get((_scope(cmd.actor), action, key))
        if known is None:
            return False
        if known[0] != _fingerprint(cmd):
            raise Refusal(
                409,
                "idempotency_key_reused",
                f"idempotency key {key!r} was used for a different {action} ({known[1].summary}); use a new key",
            ).to_error()
        return True

    def _repeat(self, action: str, key: str, cmd: act.Command) -> ActionResult | None:
        if not self._seen(action, key, cmd):
            return None
        return self._done[(_scope(cmd.actor), action, key)][1].model_copy(update={"repeated": True})

    def _result(self, action: str, summary: str, **extra: Any) -> ActionResult:
        refunded = refunded_total(self._state)
        return ActionResult(
            action=action,
            summary=summary,
            at=workflow.now(),
            refunded_total=refunded,
            refundable=self._inp.order.total - refunded,
            **extra,
        )

    def _finish(
        self,
        action: str,
        cmd: act.Command,
        result: ActionResult,
        before: dict[str, Any],
        key: str | None = None,
        outcome: str = "done",
    ) -> ActionResult:
        """Log the action in the journey's state and, durably, in the audit table."""
        update_id = workflow.current_update_info().id  # type: ignore[union-attr]
        self._state.actions.append(
            ActionRecord(update_id=update_id, action=action, by=cmd.actor, at=result.at, summary=result.summary)
        )
        if key is not None:
            self._done[(_scope(cmd.actor), action, key)] = (_fingerprint(cmd), result)
        self._audit(action, cmd, outcome, before, result=result.model_dump(mode="json"), update_id=update_id)
        return result

    @contextlib.contextmanager
    def _audit_failure(self, action: str, cmd: act.Command, before: dict[str, Any]) -> Any:
        """A provider that failed the person is audited here (a refusal is audited by whoever heard it)."""
        try:
            yield
        except ApplicationError as err:
            if err.type == act.PROVIDER_FAILED and workflow.patched(SUPPORT_V2):
                update_id = workflow.current_update_info().id  # type: ignore[union-attr]
                details = err.details[0] if err.details and isinstance(err.details[0], dict) else {}
                self._audit(action, cmd, "failed", before, update_id=update_id, result=details, reason=err.message)
            raise

    def _audit(
        self,
        action: str,
        cmd: act.Command | None,
        outcome: str,
        before: dict[str, Any],
        *,
        update_id: str,
        result: dict[str, Any] | None = None,
        reason: str = "",
        actor: Actor | None = None,
        request: dict[str, Any] | None = None,
    ) -> None:
        order = self._inp.order
        who = actor or (cmd.actor if cmd is not None else None)
        assert who is not None
        entry = AuditEntry(
            entry_id=f"{self._id}:{update_id}",
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            action=action,
            actor=who,
            at=workflow.now(),
            outcome=outcome,  # type: ignore[arg-type]
            request=request if request is not None else cmd.model_dump(mode="json", exclude={"actor"}) if cmd else {},
            result=result or {},
            before=before,
            after=self._summary(),
            reason=reason,
        )
        self._held.append(
            asyncio.create_task(
                workflow.execute_activity(
                    RECORD_ACTION,
                    entry,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=AUDIT_RETRY,
                    summary=f"audit {action}",
                )
            )
        )

    def _summary(self) -> dict[str, Any]:
        """The journey's state in a few fields: what an auditor compares before and after an action."""
        state, refunded = self._state, refunded_total(self._state)
        prefs = state.preferences
        return {
            "stage": state.stage.value,
            "refunded_total": str(refunded),
            "refundable": str(self._inp.order.total - refunded),
            "cancelled": state.cancelled_at is not None,
            "paused": prefs.paused_at(workflow.now()),
            "paused_until": prefs.paused_until.isoformat() if prefs.paused_until else None,
            "opted_out": [c.value for c in prefs.opted_out],
            "exchanges": [e.exchange_id for e in state.exchanges],
            "notes": len(state.notes),
            "planned": [p.label for p in sorted(self._plan, key=by_due)],
        }

    async def _call_provider(self, activity: str, arg: Any, result_type: type[Any], code: str, what: str) -> Any:
        """An activity a person waits on: quick retries, then their error in plain words (HTTP 502)."""
        try:
            return await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                start_to_close_timeout=PROVIDER_TIMEOUT,
                schedule_to_close_timeout=PROVIDER_DEADLINE,
                retry_policy=PROVIDER_RETRY,
            )
        except ActivityError as err:
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause or err)
            raise ApplicationError(
                f"{what}: {cause}", {"status": 502, "code": code}, type=act.PROVIDER_FAILED, non_retryable=True
            ) from err

    async def _issue_refund(
        self, key: str, amount: Decimal, items: dict[str, int], reason: RefundReason, note: str, actor: Actor
    ) -> RefundRecord:
        order = self._inp.order
        assert order.payment is not None
        instruction = RefundInstruction(
            idempotency_key=f"{self._id}:refund:{key}",
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            payment=order.payment,
            amount=amount,
            currency=order.currency,
            reason=reason,
            note=note,
            requested_by=actor.name,
        )
        receipt: RefundReceipt = await self._call_provider(
            ISSUE_REFUND, instruction, RefundReceipt, "payment_failed", "the refund did not go through"
        )
        record = RefundRecord(
            key=key,
            amount=receipt.amount,
            currency=receipt.currency,
            reason=reason,
            items=items,
            note=note,
            provider=receipt.provider,
            provider_refund_id=receipt.refund_id,
            status=receipt.status,
            by=actor,
            at=workflow.now(),
        )
        self._state.refunds.append(record)
        return record

    # --- refunds checked at the provider (SUPPORT_V2) -------------------------------------------------

    def _provider_key(self, kind: str, actor: Actor, key: str) -> str:
        """The idempotency key a provider gets: this journey, the kind of call, whose key, the key itself."""
        full = f"{self._id}:{kind}:{_message_key(actor, key)}"
        return full if len(full) <= PROVIDER_KEY_MAX else f"aftercare:{hashlib.sha256(full.encode()).hexdigest()}"

    def _lookup(self, idempotency_key: str = "") -> PaymentLookup:
        order, payments = self._inp.order, self._policy.payments
        assert order.payment is not None and payments is not None
        return PaymentLookup(
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            payment=order.payment,
            credentials_env=dict(payments.credentials_env),
            idempotency_key=idempotency_key,
        )

    async def _payment_call(self, activity: str, arg: Any, result_type: type[Any], what: str) -> Any:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=PROVIDER_TIMEOUT,
            schedule_to_close_timeout=timedelta(seconds=self._inp.options.provider_deadline_seconds),
            retry_policy=PROVIDER_RETRY,
            summary=what,
        )

    async def _payment_facts(self) -> PaymentFacts:
        """The order's payment as the merchant's own account at the provider shows it: it must be there."""
        order = self._inp.order
        assert order.payment is not None
        try:
            facts: PaymentFacts = await self._payment_call(
                LOOK_UP_PAYMENT, self._lookup(), PaymentFacts, f"look up {order.payment.reference}"
            )
        except ActivityError as err:
            cause = err.cause
            if (
                isinstance(cause, ApplicationError)
                and cause.type == PAYMENT_REFUSED
                and _code(cause) == "resource_missing"
            ):
                raise Refusal(
                    409,
                    "payment_not_found",
                    f"payment.reference {order.payment.reference} of order {order.order_id} is not a payment in "
                    f"merchant {order.merchant_id}'s {order.payment.provider} account, so it cannot be refunded "
                    f"from here; nothing was refunded",
                ).to_error() from None
            raise _provider_failed(err, "the payment could not be looked up; nothing was refunded") from err
        _checked(lambda: payment_check(order, facts))
        return facts

    async def _refund_at_provider(
        self,
        provider_key: str,
        key: str,
        amount: Decimal,
        items: dict[str, int],
        reason: RefundReason,
        note: str,
        actor: Actor,
    ) -> RefundRecord:
        """Refund, and record it whatever happened but a clear no: a lost answer is recorded `unknown` (held)."""
        order, payments = self._inp.order, self._policy.payments
        assert order.payment is not None and payments is not None
        instruction = RefundInstruction(
            idempotency_key=provider_key,
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            payment=order.payment,
            credentials_env=dict(payments.credentials_env),
            amount=amount,
            currency=order.currency,
            reason=reason,
            note=note,
            requested_by=actor.name,
        )
        fields: dict[str, Any] = {
            "key": key, "currency": order.currency, "reason": reason, "items": items, "note": note,
            "provider": order.payment.provider, "by": actor, "at": workflow.now(), "provider_key": provider_key,
        }  # fmt: skip
        try:
            receipt: RefundReceipt = await self._payment_call(
                ISSUE_REFUND, instruction, RefundReceipt, f"refund {money(amount, order.currency)}"
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:  # a clear no: nothing moved
                raise _provider_failed(err, "the refund did not go through; nothing was refunded") from err
            # Retried until the deadline without an answer: the provider may have refunded. Hold the amount.
            record = RefundRecord(
                amount=amount, provider_refund_id="", status="unknown", detail=_failure_text(err), **fields
            )
        else:
            record = RefundRecord(
                amount=receipt.amount, provider_refund_id=receipt.refund_id, status=receipt.status, **fields
            )
        self._state.refunds.append(record)
        return record

    async def _settle_unknown_refunds(self) -> None:
        """Look up every refund whose outcome is unknown (by our key, kept in the refund's metadata) before
        anything else is refunded; if the provider cannot say, nothing new is refunded."""
        for record in [r for r in self._state.refunds if r.status == "unknown"]:
            before = self._summary()
            try:
                found: FoundRefund = await self._payment_call(
                    FIND_REFUND, self._lookup(record.provider_key), FoundRefund, f"look up refund {record.key}"
                )
            except ActivityError as err:
                raise ApplicationError(
                    f"the earlier refund of {money(record.amount, record.currency)} (key {record.key}) has an "
                    f"unknown outcome and the payment provider could not be asked about it "
                    f"({_failure_text(err)}); nothing new was refunded: try again shortly",
                    {"status": 503, "code": "refund_outcome_unknown"},
                    type=act.PROVIDER_FAILED,
                    non_retryable=True,
                ) from err
            if found.receipt is not None:
                receipt = found.receipt
                record.status, record.provider_refund_id = receipt.status, receipt.refund_id
                record.amount = receipt.amount
                record.detail = f"confirmed by the provider after its answer was lost ({receipt.refund_id})"
                self._tell_refunded(record)
                summary, outcome = f"refunded {money(record.amount, record.currency)} ({record.reason.value})", "done"
            else:
                record.status, record.detail = "not_made", found.detail
                summary = f"refund of {money(record.amount, record.currency)} never made: {found.detail}"
                outcome = "failed"
            self._plan_changed = True
            for done_key, (fingerprint, result) in self._done.items():
                if result.refund is record:
                    self._done[done_key] = (fingerprint, result.model_copy(update={"summary": summary}))
            update_id = workflow.current_update_info().id  # type: ignore[union-attr]
            self._audit(
                act.REFUND,
                None,
                outcome,
                before,
                update_id=f"{update_id}:settled:{record.provider_key}",
                result={"refund": record.model_dump(mode="json")},
                reason=f"settled: {summary}",
                actor=record.by,
                request={"idempotency_key": record.key, "settled_while": update_id},
            )

    async def _refund_on_cancel(self, cmd: CancelCommand, before: dict[str, Any]) -> tuple[RefundRecord | None, str]:
        """A cancellation's refund, checked as any refund; a lost answer does not stop the cancellation."""
        order = self._inp.order
        if self._policy.payments is None:
            return (
                None,
                "; the policy names no payment account (payments.credentials_env), so refund it at the provider",
            )
        with self._audit_failure(act.CANCEL, cmd, before):
            await self._settle_unknown_refunds()
            facts = await self._payment_facts()
            amount = min(order.total - refunded_total(self._state), facts.refundable)
            if amount <= 0:
                return None, ""
            record = await self._refund_at_provider(
                f"{order.workflow_id}:refund:cancel",
                "cancel",
                amount,
                {i.id: i.quantity for i in order.items},
                RefundReason.OTHER,
                f"order cancelled: {cmd.reason}",
                cmd.actor,
            )
        if record.status == "unknown":
            return record, f"; {_unknown_summary(record)}"
        return record, ""

    def _tell_refunded(self, record: RefundRecord) -> None:
        if record.key == "cancel":
            return  # the cancellation message carries the refund
        context = {"refund": {"amount": str(record.amount), "currency": record.currency, "reason": record.reason.value}}
        self._send_later(Step.REFUND_ISSUED, f"refund-{_message_key(record.by, record.key)}", context)

    def _send_later(self, step: Step, key_suffix: str, context: dict[str, Any]) -> None:
        """Tell the customer without making the agent wait (an SMS may wait out quiet hours)."""
        self._held.append(asyncio.create_task(self._messenger.send(step, key_suffix=key_suffix, context=context)))

    async def _set_preferences(self, prefs: MessagePreferences) -> None:
        """This journey's messages and every running tracking child's follow the new preferences."""
        self._state.preferences = prefs
        self._messenger.preferences = prefs
        live = {p.tracking_number for p in self._state.parcels if not p.final}
        for tracking_number, handle in self._children.items():
            if tracking_number in live:
                try:
                    await handle.signal(ShipmentTracking.preferences_changed, prefs)
                except Exception as err:  # the child ended meanwhile: nothing left for it to send
                    workflow.logger.info("preferences not delivered to %s: %s", tracking_number, err)

    def _check_paused(self) -> None:
        if not self._state.preferences.paused_at(workflow.now()):
            raise Refusal(409, "not_paused", "this order's messages are not paused")

    def _new_opt_outs(self, cmd: OptOutCommand) -> list[Any]:
        new = sorted(set(cmd.channels) - set(self._state.preferences.opted_out))
        if not new:
            raise Refusal(409, "already_opted_out", f"already opted out of {', '.join(c.value for c in cmd.channels)}")
        return new

    def _window_ends(self) -> dict[str, datetime]:
        """Item id -> when its return window closes (only items the customer has received)."""
        ends: dict[str, datetime] = {}
        for item in self._inp.order.items:
            received = delivered_at(self._state, item.id)
            if received is not None:
                ends[item.id] = self._due(received, self._policy.returns.window)
        return ends

    def _exchange(self, exchange_id: str) -> ExchangeRecord | None:
        return next((e for e in self._state.exchanges if e.exchange_id == exchange_id), None)

    async def _drain(self) -> None:
        """Wait for held messages, audit records and running handlers, including any they started."""
        while True:
            await asyncio.gather(*self._held)
            await workflow.wait_condition(workflow.all_handlers_finished)
            if all(t.done() for t in self._held):
                return

    # --- the journey ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: JourneyInput) -> JourneyState:
        self._set_stage(Stage.CONFIRMED)
        confirmation = asyncio.create_task(self._messenger.send(Step.CONFIRMATION))
        await self._until_parcels_done()
        if not self._cancelled():
            await self._post_delivery()
        await confirmation
        await self._drain()
        self._state.completed_at = workflow.now()
        if not self._cancelled():
            self._set_stage(Stage.COMPLETED)
        self._publish_stage()
        self._state.next_action = None
        return self.state()

    def _cancelled(self) -> bool:
        return self._state.cancelled_at is not None

    def _start_tracking(self) -> None:
        while self._new_shipments:
            self._watchers.append(asyncio.create_task(self._track(self._new_shipments.pop(0))))

    async def _until_parcels_done(self) -> None:
        """Start a child per parcel; alert on the fulfillment ladder while nothing has shipped."""
        rungs = [self._due(self._inp.order.placed_at, d) for d in self._policy.delays.fulfillment_ladder]
        level = 0
        self._set_stage(Stage.AWAITING_FULFILLMENT)
        while not self._cancelled() and not (self._fully_shipped() and all(p.final for p in self._state.parcels)):
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
            try:
                await workflow.wait_condition(
                    lambda pb=parcels_before: (
                        bool(self._new_shipments)
                        or self._cancelled()
                        or [(p.tracking_number, p.final) for p in self._state.parcels] != pb
                    ),
                    timeout=timeout,
                    timeout_summary=FULFILLMENT_CHECK,
                )
            except TimeoutError:
                self._state.next_action = None  # this check is happening now, not next
                level += 1
                await self._fulfillment_late(level)
        await asyncio.gather(*self._watchers)
        self._state.next_action = None

    async def _fulfillment_late(self, level: int) -> None:
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
            )
            if self._messenger.must_wait(Step.DELAY_ALERT):
                self._held.append(asyncio.create_task(send))  # a shipment tonight must not wait for the morning
            else:
                await send

    async def _track(self, shipment: Shipment) -> None:
        """Run one parcel's tracking child to its end and keep its final word."""
        order, options = self._inp.order, self._inp.options
        if workflow.patched(PATCH_TENANT_IDS):  # an id per merchant, unambiguous (domain.shipment_workflow_id)
            child_id = shipment_workflow_id(order.merchant_id, shipment.carrier, shipment.tracking_number)
        else:
            child_id = legacy_shipment_workflow_id(shipment.carrier, shipment.tracking_number)
        parcel = ParcelState(
            carrier=shipment.carrier,
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
        self._refresh_stage()

    def _originals(self) -> list[ParcelState]:
        """The order's own parcels, not exchanges' replacements."""
        return [p for p in self._state.parcels if p.exchange_id is None]

    def _fully_shipped(self) -> bool:
        """Every unit of every line item is in some parcel (a parcel without item list carries all)."""
        parcels = self._originals()
        if any(not p.items for p in parcels):
            return True
        shipped: dict[str, int] = {}
        for p in parcels:
            for item_id, qty in p.items.items():
                shipped[item_id] = shipped.get(item_id, 0) + qty
        return bool(parcels) and all(shipped.get(i.id, 0) >= i.quantity for i in self._inp.order.items)

    def _refresh_stage(self) -> None:
        parcels = self._originals()
        if not parcels or self._state.stage in (Stage.POST_DELIVERY, Stage.COMPLETED, Stage.CANCELLED):
            return
        if not self._fully_shipped():
            self._set_stage(Stage.PARTIALLY_SHIPPED)
        elif all(p.status is TrackingStatus.DELIVERED for p in parcels):
            self._set_stage(Stage.DELIVERED)
        else:
            self._set_stage(Stage.IN_TRANSIT)

    # --- after delivery ---------------------------------------------------------------------------

    async def _post_delivery(self) -> None:
        """Work through the plan, and stay open for support until the return window closes."""
        delivered = [p for p in self._originals() if p.status is TrackingStatus.DELIVERED and p.delivered_at]
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

    def _replacement_delivered(self, parcel: ParcelState) -> None:
        """The replacement arrived: its reviews are due as long after this delivery as after the first."""
        exchange = self._exchange(parcel.exchange_id or "")
        if exchange is None or parcel.delivered_at is None:
            return
        exchange.replacement_delivered_at = parcel.delivered_at
        postpone_reviews(self._plan, self._policy, self._tz, exchange, parcel.delivered_at)

    def _prune_plan(self) -> None:
        """Drop what signals and refunds made moot; what refunds took away is recorded as skipped, with why."""
        self._plan, dropped = prune_plan(self._plan, self._inp.order, self._state)
        for planned, what in dropped:
            self._messenger.skip(planned.step, SkipReason.NOT_APPLICABLE, planned.key, what, refusal_first=True)

    async def _carry_out(self, planned: Planned) -> None:
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
        prefix = f"{self._id}:{step.value}:"
        return any(
            o.status == "sent" and o.idempotency_key.startswith(prefix) and o.idempotency_key.endswith(f":{key_suffix}")
            for o in self._messenger.outcomes
        )

    # --- helpers --------------------------------------------------------------------------------

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
        order = self._inp.order
        self._published_stage = self._state.stage
        # More attributes in an upsert the journey already makes replay fine: no patch needed (the replay test
        # of the saved histories says so). A new upsert where there was none needs one, as the tracking child's.
        workflow.upsert_search_attributes(
            [
                SA_MERCHANT.value_set(order.merchant_id),
                SA_CUSTOMER.value_set(order.customer.id),
                SA_STAGE.value_set(self._state.stage.value),
                *self._findable_detail(),
            ]
        )

    def _findable_detail(self) -> list[SearchAttributeUpdate]:
        """Order value, delayed or not (so "on time" is findable too) and the kinds of delay seen. Each
        parcel's carrier status is on its tracking child."""
        kinds = sorted({d.kind.value for d in self._state.delays})
        detail: list[SearchAttributeUpdate] = [
            SA_ORDER_VALUE.value_set(float(self._inp.order.total)),
            SA_DELAYED.value_set(bool(kinds)),
        ]
        if kinds:
            detail.append(SA_DELAY_KINDS.value_set(kinds))
        return detail


def _scope(actor: Actor) -> str:
    """Whose idempotency key it is: role, merchant and name (a merchant's key is never support's)."""
    return f"{actor.role.value}|{actor.merchant_id or ''}|{actor.name}"


def _message_key(actor: Actor, key: str) -> str:
    """A person's key made unique across people, short and free of the characters their name may hold."""
    return f"{hashlib.sha256(_scope(actor).encode()).hexdigest()[:12]}:{key}"


def _code(err: ApplicationError) -> str | None:
    details = err.details[0] if err.details and isinstance(err.details[0], dict) else {}
    return details.get("code")


def _failure_text(err: BaseException) -> str:
    """The chain of causes of a failed activity, in a line: what a support agent reads."""
    parts: list[str] = []
    cause: BaseException | None = err.cause if isinstance(err, ActivityError) else err
    while cause is not None and len(parts) < 4:
        if isinstance(cause, FailureError) and cause.message:
            parts.append(cause.message)
        cause = cause.__cause__
    return "; ".join(parts) or type(err).__name__


def _provider_failed(err: ActivityError, what: str) -> ApplicationError:
    """The payment provider failed the person: 502, or 503 when the merchant's key is not configured."""
    cause = err.cause
    status, code = 502, "payment_failed"
    if isinstance(cause, ApplicationError) and cause.type == PAYMENT_NOT_CONFIGURED:
        status, code = 503, "payment_not_configured"
    return ApplicationError(
        f"{what}: {_failure_text(err)}", {"status": status, "code": code}, type=act.PROVIDER_FAILED, non_retryable=True
    )


def _unknown_summary(record: RefundRecord) -> str:
    return (
        f"refund of {money(record.amount, record.currency)} ({record.reason.value}): outcome unknown, the payment "
        f"provider did not confirm it ({record.detail}); the amount is held and the refund is looked up before "
        f"anything else is refunded"
    )


def _fingerprint(cmd: act.Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"actor", "note"})


def _checked(rule: Callable[[], Any]) -> Any:
    """Run a support rule; its `Refusal` becomes the error the person who asked sees."""
    try:
        return rule()
    except Refusal as refusal:
        raise refusal.to_error() from None
