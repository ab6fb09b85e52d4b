"""Support's Updates (refund, exchange, cancel, pause, resume, opt-out, note): what each one does.

A mixin of `OrderJourney`, whose thin `@workflow.update` entry points (and validators) call these. Every
handler follows one sequence, `_handle`: one at a time under the lock, a repeated request answered as before,
the rule checked again (the validator ran before the lock), the state before, the act, the record, the audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from temporalio import workflow
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from domain import RefundReason, ReturnLabel, ReturnLabelRequest, Step
    from workflows import commands as act
    from workflows.commands import (
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
    from workflows.models import MessagePreferences, ParcelState, Stage
    from workflows.plan import due
    from workflows.provider_calls import (
        CREATE_RETURN_LABEL,
        SUPPORT_V2,
        ProviderCalls,
        checked,
        fingerprint,
        message_key,
        scope,
        unknown_summary,
    )
    from workflows.shipment_tracking import ShipmentTracking
    from workflows.support_rules import (
        Refusal,
        cancel_check,
        delivered_at,
        exchange_bonus,
        exchange_check,
        money,
        payments_configured,
        refund_terms,
        refunded_total,
    )

PAUSE_MAX = timedelta(days=366)  # a pause with an end is for a holiday or a stay in hospital, not for ever


@dataclass
class Done:
    """What a handler's act did: the summary the person reads, records for the result, how it ended."""

    summary: str
    records: dict[str, Any] = field(default_factory=dict)
    outcome: str = "done"


Act = Callable[[Any, dict[str, Any]], Awaitable[Done]]
"""A handler's own part: given what its rule returned and the state before, do it and say what was done."""


class SupportUpdates(ProviderCalls):
    """The bodies of support's Updates and their validators; the attributes are the journey's."""

    _tz: ZoneInfo
    _lock: asyncio.Lock
    _children: dict[str, ChildWorkflowHandle[ShipmentTracking, ParcelState]]

    if TYPE_CHECKING:

        def _set_stage(self, stage: Stage) -> None: ...

        def _publish_stage(self) -> None: ...

    async def _handle(
        self,
        action: str,
        cmd: act.Command,
        do: Act,
        *,
        key: str | None = None,
        rule: Callable[[], Any] | None = None,
        checked_at_provider: Callable[[], Awaitable[ActionResult]] | None = None,
    ) -> ActionResult:
        """The common sequence: lock, repeat check (with an idempotency `key`), rule check, state before, act,
        record, audit. `checked_at_provider` is the action's own way since SUPPORT_V2, where it differs."""
        async with self._lock:
            if checked_at_provider is not None and workflow.patched(SUPPORT_V2):
                return await checked_at_provider()
            if key is not None and (done := self._repeat(action, key, cmd)) is not None:
                return done
            terms = checked(rule) if rule is not None else None
            before = self._summary()
            did = await do(terms, before)
            result = self._result(action, did.summary, **did.records)
            return self._finish(action, cmd, result, before, key=key, outcome=did.outcome)

    # --- refund ---------------------------------------------------------------------------------------

    async def _on_refund(self, cmd: RefundCommand) -> ActionResult:
        async def do(terms: Any, before: dict[str, Any]) -> Done:
            amount, items = terms
            assert cmd.reason is not None
            record = await self._issue_refund(cmd.idempotency_key, amount, items, cmd.reason, cmd.note, cmd.actor)
            self._plan_changed = True
            self._send_later(
                Step.REFUND_ISSUED,
                f"refund-{cmd.idempotency_key}",
                {"refund": {"amount": str(record.amount), "currency": record.currency, "reason": record.reason.value}},
            )
            return Done(f"refunded {money(record.amount, record.currency)} ({record.reason.value})", {"refund": record})

        return await self._handle(
            act.REFUND,
            cmd,
            do,
            key=cmd.idempotency_key,
            rule=lambda: refund_terms(self._inp.order, self._state, cmd),
            checked_at_provider=lambda: self._refund_checked(cmd),
        )

    def _vet_refund(self, cmd: RefundCommand) -> None:
        if self._seen(act.REFUND, cmd.idempotency_key, cmd):
            return
        checked(lambda: payments_configured(self._inp.order, self._policy))
        # A refund whose outcome is unknown is settled by the handler before this one: the validator cannot ask
        # the provider, so it judges as if it had not been made and the handler checks again once it knows.
        unsettled = [r for r in self._state.refunds if r.status == "unknown"]
        state = self._state.model_copy(update={"refunds": [r for r in self._state.refunds if r not in unsettled]})
        checked(lambda: refund_terms(self._inp.order, state, cmd))

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
        checked(lambda: payments_configured(order, self._policy))
        checked(lambda: refund_terms(order, self._state, cmd))
        assert cmd.reason is not None
        reason = cmd.reason
        before = self._summary()
        with self._audit_failure(act.REFUND, cmd, before):
            facts = await self._payment_facts()
            amount, items = checked(lambda: refund_terms(order, self._state, cmd, facts))
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
            result = self._result(act.REFUND, unknown_summary(record), refund=record)
            return self._finish(act.REFUND, cmd, result, before, key=cmd.idempotency_key, outcome="unknown")
        self._tell_refunded(record)
        result = self._result(act.REFUND, f"refunded {what}", refund=record)
        return self._finish(act.REFUND, cmd, result, before, key=cmd.idempotency_key)

    # --- exchange -------------------------------------------------------------------------------------

    async def _on_exchange(self, cmd: ExchangeCommand) -> ActionResult:
        order, policy = self._inp.order, self._policy

        async def do(_: None, before: dict[str, Any]) -> Done:
            assert policy.returns.address is not None
            back: dict[str, int] = {}
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
            self._send_later(Step.EXCHANGE_CREATED, f"exchange-{message_key(cmd.actor, cmd.idempotency_key)}", context)
            swaps = ", ".join(f"{i.quantity}x {i.item_id} for {i.replacement_sku}" for i in record.items)
            summary = f"exchange {record.exchange_id}: {swaps}; return label {label.tracking_number}"
            if bonus:
                summary += f"; bonus {money(bonus.amount, bonus.currency)}"
            return Done(summary, {"exchange": record})

        return await self._handle(act.EXCHANGE, cmd, do, key=cmd.idempotency_key, rule=lambda: self._exchange_rule(cmd))

    def _vet_exchange(self, cmd: ExchangeCommand) -> None:
        if self._seen(act.EXCHANGE, cmd.idempotency_key, cmd):
            return
        checked(lambda: self._exchange_rule(cmd))

    def _exchange_rule(self, cmd: ExchangeCommand) -> None:
        exchange_check(self._inp.order, self._policy, self._state, cmd, workflow.now(), self._window_ends())

    # --- cancel ---------------------------------------------------------------------------------------

    async def _on_cancel(self, cmd: CancelCommand) -> ActionResult:
        async def do(_: None, before: dict[str, Any]) -> Done:
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
            told = self._end_cancelled(cmd.reason, record)
            refunded = f"; refunded {money(record.amount, record.currency)}" if record and told else ""
            return Done(f"cancelled: {cmd.reason}{refunded}{note}", {"refund": record})

        return await self._handle(act.CANCEL, cmd, do, rule=lambda: cancel_check(self._state, cmd))

    def _vet_cancel(self, cmd: CancelCommand) -> None:
        checked(lambda: cancel_check(self._state, cmd))

    def _end_cancelled(self, reason: str, record: RefundRecord | None) -> bool:
        """The journey ends cancelled: nothing more planned, and the customer told (with the refund, if one was
        made and confirmed). Support's cancel and the store's share it. True if the refund was told."""
        self._state.cancelled_at = workflow.now()
        self._state.cancel_reason = reason
        self._set_stage(Stage.CANCELLED)
        self._publish_stage()
        self._plan, self._plan_changed = [], True
        told = record is not None and record.status != "unknown"  # never promise money we are not sure of
        context = {"refund": {"amount": str(record.amount), "currency": record.currency}} if record and told else {}
        self._send_later(Step.CANCELLED, "", context)
        return told

    # --- pause, resume, opt-out, note -----------------------------------------------------------------

    async def _on_pause(self, cmd: PauseCommand) -> ActionResult:
        async def do(_: None, before: dict[str, Any]) -> Done:
            prefs = self._state.preferences.model_copy(update={"paused": True, "paused_until": cmd.until})
            await self._set_preferences(prefs)
            until = f" until {cmd.until:%Y-%m-%d %H:%M} UTC" if cmd.until else " until resumed"
            return Done(f"messages paused{until}")

        # Since SUPPORT_V2 a second agent's pause is checked again here, not admitted alongside the first.
        return await self._handle(
            act.PAUSE, cmd, do, rule=lambda: self._pause_check(cmd) if workflow.patched(SUPPORT_V2) else None
        )

    def _vet_pause(self, cmd: PauseCommand) -> None:
        checked(lambda: self._pause_check(cmd))

    async def _on_resume(self, cmd: ResumeCommand) -> ActionResult:
        async def do(_: None, before: dict[str, Any]) -> Done:
            resumed = self._state.preferences.model_copy(update={"paused": False, "paused_until": None})
            await self._set_preferences(resumed)
            return Done("messages resumed")

        return await self._handle(act.RESUME, cmd, do, rule=self._check_paused)

    def _vet_resume(self, cmd: ResumeCommand) -> None:
        checked(self._check_paused)

    async def _on_opt_out(self, cmd: OptOutCommand) -> ActionResult:
        async def do(new: list[Any], before: dict[str, Any]) -> Done:
            prefs = self._state.preferences
            await self._set_preferences(prefs.model_copy(update={"opted_out": sorted({*prefs.opted_out, *new})}))
            return Done(f"opted out of {', '.join(c.value for c in new)}")

        return await self._handle(act.OPT_OUT, cmd, do, rule=lambda: self._new_opt_outs(cmd))

    def _vet_opt_out(self, cmd: OptOutCommand) -> None:
        checked(lambda: self._new_opt_outs(cmd))

    async def _on_note(self, cmd: NoteCommand) -> ActionResult:
        async def do(_: None, before: dict[str, Any]) -> Done:
            self._state.notes.append(act.Note(text=cmd.text.strip(), by=cmd.actor, at=workflow.now()))
            return Done(f"note: {cmd.text.strip().splitlines()[0][:80]}")

        return await self._handle(act.ADD_NOTE, cmd, do)

    def _vet_note(self, cmd: NoteCommand) -> None:
        if not cmd.text.strip():
            raise Refusal(422, "empty_note", "a note needs some text").to_error()

    # --- how support's handlers work ------------------------------------------------------------------

    def _seen(self, action: str, key: str, cmd: act.Command) -> bool:
        """True if this person's idempotency key already did exactly this; a different request under it is
        refused. Someone else's use of the same key is theirs, not this person's."""
        known = self._done.get((scope(cmd.actor), action, key))
        if known is None:
            return False
        if known[0] != fingerprint(cmd):
            raise Refusal(
                409,
                "idempotency_key_reused",
                f"idempotency key {key!r} was used for a different {action} ({known[1].summary}); use a new key",
            ).to_error()
        return True

    def _repeat(self, action: str, key: str, cmd: act.Command) -> ActionResult | None:
        if not self._seen(action, key, cmd):
            return None
        return self._done[(scope(cmd.actor), action, key)][1].model_copy(update={"repeated": True})

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
        update_id = workflow.current_update_info().id  # type: ignore[union-attr]  # inside an Update handler there is always one
        self._state.actions.append(
            ActionRecord(update_id=update_id, action=action, by=cmd.actor, at=result.at, summary=result.summary)
        )
        if key is not None:
            self._done[(scope(cmd.actor), action, key)] = (fingerprint(cmd), result)
        self._audit(action, cmd, outcome, before, result=result.model_dump(mode="json"), update_id=update_id)
        return result

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
                ends[item.id] = due(self._policy, self._tz, received, self._policy.returns.window)
        return ends
