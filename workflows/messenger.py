"""How a journey asks for a message: consent, address and quiet hours decided in the workflow, the send
itself in the `send_message` activity (outbox, caps, provider).

Shared by the order journey and the tracking child so both follow the same rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import Channel, MessageOutcome, MessageRequest, MessageStatus, Order, SkipReason, Step
    from policies.schema import Policy, StepConfig, fill_link
    from workflows.models import MessagePreferences
    from workflows.plan import is_stale
    from workflows.timecalc import quiet_until, zone

SEND_MESSAGE = "send_message"
# = activities.metrics.MESSAGES and its description (workflows do not import activities; a test checks they agree)
MESSAGES_COUNTER = ("aftercare_messages", "Customer messages settled: sent, skipped (with its reason) or unconfirmed")
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
SEND_START_TO_CLOSE = timedelta(seconds=60)
SEND_SCHEDULE_TO_CLOSE = timedelta(hours=6)

# Answers to what support just did for the customer: a pause does not hold these back (an opt-out does).
SUPPORT_STEPS = frozenset({Step.REFUND_ISSUED, Step.EXCHANGE_CREATED, Step.CANCELLED})


# A link whose placeholders have no value here (the tracking link before anything shipped) is left out of
# the message instead of sent half-filled; journeys that sent before this replay the old way.
PATCH_UNFILLED_LINKS = "links-left-out-unless-filled"


class _Links(dict[str, str]):
    """Before PATCH_UNFILLED_LINKS: leaves unknown `{placeholders}` in merchant URL templates as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Messenger:
    """Sends one journey's messages and keeps the record of every outcome (sent, skipped with reason)."""

    def __init__(self, order: Order, policy: Policy, policy_hash: str, key_prefix: str) -> None:
        self.order = order
        self.policy = policy
        self.policy_hash = policy_hash
        self.key_prefix = key_prefix
        self.outcomes: list[MessageOutcome] = []
        self.preferences = MessagePreferences()
        # Messages due before this are `stale` (skipped, not sent late); None for journeys from before the
        # `stale-steps` patch, which send everything whenever it comes due.
        self.stale_before: datetime | None = None
        self._customer_tz = zone(order.customer.timezone, policy.merchant.timezone)

    def link(self, name: str, **values: str) -> str | None:
        """The merchant's `name` link filled in for this order, or None if it has none or cannot be built."""
        template = self.policy.merchant.links.get(name)  # type: ignore[call-overload]  # links is keyed by a Literal; any other name is simply absent
        if template is None:
            return None
        if workflow.patched(PATCH_UNFILLED_LINKS):
            return fill_link(template, order_id=self.order.order_id, **values)
        return template.format_map(_Links(order_id=self.order.order_id, **values))

    def base_context(self) -> dict[str, Any]:
        order, customer, merchant = self.order, self.order.customer, self.policy.merchant
        return {
            "merchant": {"name": merchant.name, "support_email": merchant.support_email},
            "customer": {"first_name": customer.first_name or "", "last_name": customer.last_name or ""},
            "order": {
                "id": order.number or order.order_id,  # as the customer knows it
                "total": str(order.total),
                "currency": order.currency,
                "items": [{"id": i.id, "sku": i.sku, "name": i.name, "quantity": i.quantity} for i in order.items],
            },
            "links": {k: v for k in ("tracking", "review", "reorder", "support") if (v := self.link(k)) is not None},
        }

    def step_config(self, step: Step) -> StepConfig | None:
        """The policy section that governs `step`; a review reminder follows the review request's."""
        section = "review_request" if step is Step.REVIEW_REMINDER else step.value
        config: StepConfig | None = getattr(self.policy.steps, section, None)
        return config if config is not None and config.enabled else None

    async def send(
        self,
        step: Step,
        key_suffix: str = "",
        context: dict[str, Any] | None = None,
        *,
        still_relevant: Callable[[], bool] | None = None,
        due_at: datetime | None = None,
    ) -> list[MessageOutcome]:
        """Send `step` on each of its channels, concurrently; an SMS waiting out quiet hours holds no email.

        `still_relevant` is asked when a channel's quiet hours end: news overtaken while it waited (an
        "out for delivery" SMS held overnight for a parcel delivered at 23:00) is skipped, not sent late.
        `due_at`: when the message was meant to go; long before we heard of the order, it is `stale`.
        """
        config = self.step_config(step)
        if config is None:
            return []
        if due_at is not None and self._stale(due_at):
            detail = f"due {due_at:%Y-%m-%d %H:%M} UTC, long before the order reached us"
            return self.skip(step, SkipReason.STALE, key_suffix, detail, refusal_first=True)
        merged = self.base_context() | (context or {})
        return list(
            await asyncio.gather(
                *(self._send_one(step, ch, key_suffix, merged, still_relevant) for ch in config.channels)
            )
        )

    def must_wait(self, step: Step, due_at: datetime | None = None) -> bool:
        """True if sending `step` now would wait out some channel's quiet hours (so `send` would block)."""
        if self._stale(due_at):
            return False  # skipped at once
        config = self.step_config(step)
        now = workflow.now()
        return any(
            self._refusal(step, ch) is None
            and quiet_until(now, self.policy.defaults.quiet_hours.get(ch), self._customer_tz) is not None
            for ch in (config.channels if config else [])
        )

    def was_sent(self, step: Step, key_suffix: str) -> bool:
        """Whether this journey's `step` message with this key suffix went out."""
        prefix = f"{self.key_prefix}:{step.value}:"
        return any(
            o.status == "sent" and o.idempotency_key.startswith(prefix) and o.idempotency_key.endswith(f":{key_suffix}")
            for o in self.outcomes
        )

    def skip(
        self, step: Step, reason: SkipReason, key_suffix: str = "", detail: str = "", *, refusal_first: bool = False
    ) -> list[MessageOutcome]:
        """Record a step the journey decided not to send at all (e.g. nothing was delivered).

        `refusal_first`: where the customer could not have received it anyway (no consent, no address),
        record that reason instead, as `send` would have.
        """
        config = self.step_config(step)
        outcomes: list[MessageOutcome] = []
        for channel in config.channels if config else []:
            refusal = self._refusal(step, channel) if refusal_first else None
            key = self._key(step, channel, key_suffix)
            outcomes.append(self._record(step, channel, key, None, refusal or reason, "" if refusal else detail))
        return outcomes

    def _stale(self, due_at: datetime | None) -> bool:
        """Due long before intake. Nothing is due before the order was placed: news a carrier dates earlier
        (a test parcel "delivered yesterday", a scan in the wrong zone) counts from the order, so only an
        order itself placed long ago has stale messages."""
        return due_at is not None and is_stale(max(due_at, self.order.placed_at), self.stale_before)

    def _key(self, step: Step, channel: Channel, suffix: str) -> str:
        parts = [self.key_prefix, step.value, channel.value] + ([suffix] if suffix else [])
        return ":".join(parts)

    def _recipient(self, channel: Channel) -> str | None:
        customer = self.order.customer
        return customer.email if channel is Channel.EMAIL else customer.phone

    def _refusal(self, step: Step, channel: Channel) -> SkipReason | None:
        customer = self.order.customer
        if self._recipient(channel) is None:
            return SkipReason.NO_ADDRESS
        if step.is_marketing and not customer.marketing_consent:
            return SkipReason.OPTED_OUT
        if channel is Channel.WHATSAPP and not customer.whatsapp_opt_in:
            return SkipReason.OPTED_OUT
        if channel in self.preferences.opted_out:
            return SkipReason.OPTED_OUT
        if step not in SUPPORT_STEPS and self.preferences.paused_at(workflow.now()):
            return SkipReason.PAUSED
        return None

    def _record(
        self,
        step: Step,
        channel: Channel,
        key: str,
        recipient: str | None,
        reason: SkipReason,
        detail: str = "",
    ) -> MessageOutcome:
        outcome = MessageOutcome(
            idempotency_key=key,
            step=step,
            channel=channel,
            recipient=recipient,
            status=MessageStatus.SKIPPED,
            skip_reason=reason,
            at=workflow.now(),
            detail=detail,
        )
        self.outcomes.append(outcome)
        # the counter activities.metrics.MESSAGES that send_message's own skips go to; the SDK records nothing
        # while replaying, and a metric is no command: histories do not change
        workflow.metric_meter().create_counter(*MESSAGES_COUNTER).add(
            1, {"step": step.value, "channel": channel.value, "outcome": "skipped", "reason": reason.value}
        )
        return outcome

    async def _send_one(
        self,
        step: Step,
        channel: Channel,
        suffix: str,
        context: dict[str, Any],
        still_relevant: Callable[[], bool] | None = None,
    ) -> MessageOutcome:
        key = self._key(step, channel, suffix)
        recipient = self._recipient(channel)
        refusal = self._refusal(step, channel)
        if refusal is not None:
            return self._record(step, channel, key, recipient, refusal)
        quiet = self.policy.defaults.quiet_hours.get(channel)
        until = quiet_until(workflow.now(), quiet, self._customer_tz)
        if until is not None:
            await workflow.sleep(until - workflow.now(), summary=f"quiet hours: {step.value} by {channel.value}")
            if (refusal := self._refusal(step, channel)) is not None:  # paused or opted out overnight
                return self._record(step, channel, key, recipient, refusal)
            if still_relevant is not None and not still_relevant():
                return self._record(
                    step,
                    channel,
                    key,
                    recipient,
                    SkipReason.NOT_APPLICABLE,
                    "overtaken by later news during quiet hours",
                )
        cap = self.policy.defaults.caps.get(channel) if step.is_marketing else None
        request = MessageRequest(
            idempotency_key=key,
            merchant_id=self.order.merchant_id,
            order_id=self.order.order_id,
            customer_id=self.order.customer.id,
            step=step,
            channel=channel,
            recipient=recipient,
            locale=self.order.customer.locale or self.policy.defaults.locale,
            requested_at=workflow.now(),
            context=context,
            policy_hash=self.policy_hash,
            marketing=step.is_marketing,
            cap_window_seconds=int(cap.window.as_timedelta().total_seconds()) if cap else None,
            cap_max=cap.max if cap else None,
            sender=config.sender if (config := self.policy.channels.get(channel)) else None,
            # names only: the values are read by the activity from the worker's environment
            provider=config.provider if config else None,
            credentials_env=dict(config.credentials_env) if config else {},
            template=config.templates.get(step) if config else None,
            resend_unconfirmed=not step.is_marketing and self.policy.defaults.resend_unconfirmed == "transactional",
        )
        try:
            outcome = await workflow.execute_activity(
                SEND_MESSAGE,
                request,
                result_type=MessageOutcome,
                start_to_close_timeout=SEND_START_TO_CLOSE,
                schedule_to_close_timeout=SEND_SCHEDULE_TO_CLOSE,
                retry_policy=SEND_RETRY,
                summary=f"{step.value} by {channel.value}",
            )
        except ActivityError as err:
            outcome = MessageOutcome.of(request, MessageStatus.FAILED, workflow.now(), detail=str(err.cause or err))
        self.outcomes.append(outcome)
        return outcome
