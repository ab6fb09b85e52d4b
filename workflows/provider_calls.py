"""Support's calls a person waits on (refunds, return labels, payment lookups) and their audit trail.

A mixin of `OrderJourney` (see `workflows.support_updates`): it works on the journey's own state. Refunds
are checked at the provider since SUPPORT_V2: the payment looked up in the merchant's own account first, a
lost answer recorded `unknown` (the amount held) and looked up before anything else is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from domain import (
        Actor,
        AuditEntry,
        FoundRefund,
        PaymentFacts,
        PaymentLookup,
        RefundInstruction,
        RefundReason,
        RefundReceipt,
        Step,
    )
    from domain.payments import PAYMENT_NOT_CONFIGURED, PAYMENT_REFUSED
    from policies.schema import Policy
    from workflows import commands as act
    from workflows.commands import ActionResult, CancelCommand, RefundRecord
    from workflows.messenger import Messenger
    from workflows.models import JourneyInput, JourneyState
    from workflows.plan import Planned, by_due
    from workflows.support_rules import Refusal, money, payment_check, refunded_total

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


class ProviderCalls:
    """The provider calls and audit records support's Updates share; the attributes are the journey's."""

    _inp: JourneyInput
    _policy: Policy
    _id: str
    _state: JourneyState
    _messenger: Messenger
    _plan: list[Planned]
    _plan_changed: bool
    _held: list[asyncio.Task[Any]]
    # (who, action, idempotency key) -> the request's fingerprint and its result: a repeat gets the same answer.
    _done: dict[tuple[str, str, str], tuple[dict[str, Any], ActionResult]]

    @contextlib.contextmanager
    def _audit_failure(self, action: str, cmd: act.Command, before: dict[str, Any]) -> Any:
        """A provider that failed the person is audited here (a refusal is audited by whoever heard it)."""
        try:
            yield
        except ApplicationError as err:
            if err.type == act.PROVIDER_FAILED and workflow.patched(SUPPORT_V2):
                update_id = workflow.current_update_info().id  # type: ignore[union-attr]  # called from Update handlers only
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
            outcome=outcome,
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
        full = f"{self._id}:{kind}:{message_key(actor, key)}"
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
        checked(lambda: payment_check(order, facts))
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
            update_id = workflow.current_update_info().id  # type: ignore[union-attr]  # called from Update handlers only
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
            return record, f"; {unknown_summary(record)}"
        return record, ""

    def _tell_refunded(self, record: RefundRecord) -> None:
        if record.key == "cancel":
            return  # the cancellation message carries the refund
        context = {"refund": {"amount": str(record.amount), "currency": record.currency, "reason": record.reason.value}}
        self._send_later(Step.REFUND_ISSUED, f"refund-{message_key(record.by, record.key)}", context)

    def _send_later(self, step: Step, key_suffix: str, context: dict[str, Any]) -> None:
        """Tell the customer without making the agent wait (an SMS may wait out quiet hours)."""
        self._held.append(asyncio.create_task(self._messenger.send(step, key_suffix=key_suffix, context=context)))


def scope(actor: Actor) -> str:
    """Whose idempotency key it is: role, merchant and name (a merchant's key is never support's)."""
    return f"{actor.role.value}|{actor.merchant_id or ''}|{actor.name}"


def message_key(actor: Actor, key: str) -> str:
    """A person's key made unique across people, short and free of the characters their name may hold."""
    return f"{hashlib.sha256(scope(actor).encode()).hexdigest()[:12]}:{key}"


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


def unknown_summary(record: RefundRecord) -> str:
    return (
        f"refund of {money(record.amount, record.currency)} ({record.reason.value}): outcome unknown, the payment "
        f"provider did not confirm it ({record.detail}); the amount is held and the refund is looked up before "
        f"anything else is refunded"
    )


def fingerprint(cmd: act.Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"actor", "note"})


def checked(rule: Callable[[], Any]) -> Any:
    """Run a support rule; its `Refusal` becomes the error the person who asked sees."""
    try:
        return rule()
    except Refusal as refusal:
        raise refusal.to_error() from None
