"""The post-delivery plan, pure: which messages come when after delivery, and which a review, a reorder or a
refund made moot.

No `workflow.*` here: the journey passes in the policy, the order, what was received and where links come
from, so the policy preview can build the same plan outside a workflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain import Order, Step
from policies.durations import Duration
from policies.schema import Policy
from workflows.commands import ExchangeRecord
from workflows.models import JourneyState, PlannedAction
from workflows.support_rules import fully_refunded_items
from workflows.timecalc import add_duration

REVIEW_STEPS = frozenset({Step.REVIEW_REQUEST, Step.REVIEW_REMINDER})


@dataclass
class Planned:
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


class Links(Protocol):
    """Where the plan's messages get their links (the journey's `Messenger`)."""

    def link(self, name: str, **values: str) -> str | None: ...

    def base_context(self) -> dict[str, Any]: ...


def by_due(p: Planned | PlannedAction) -> datetime:
    return p.due_at


def due(policy: Policy, tz: ZoneInfo, start: datetime, duration: Duration) -> datetime:
    """`start` plus `duration` on the merchant's calendar (business days, holidays)."""
    defaults = policy.defaults
    return add_duration(start, duration, tz=tz, business_days=defaults.business_days, holidays=defaults.holidays)


def stale_cutoff(policy: Policy, tz: ZoneInfo, intake: datetime) -> datetime | None:
    """Messages due before this moment are stale: their time passed more than `defaults.stale_after` before
    we heard of the order (`intake`), so they are skipped rather than sent all at once. None: nothing is."""
    defaults = policy.defaults
    if defaults.stale_after is None:
        return None
    return add_duration(
        intake,
        defaults.stale_after,
        tz=tz,
        business_days=defaults.business_days,
        holidays=defaults.holidays,
        backwards=True,
    )


def is_stale(due_at: datetime | None, cutoff: datetime | None) -> bool:
    """Whether a message due at `due_at` is too old to send (a message with no due time never is)."""
    return due_at is not None and cutoff is not None and due_at < cutoff


def build_plan(
    policy: Policy, tz: ZoneInfo, order: Order, delivered_at: datetime, received: dict[str, int], links: Links
) -> list[Planned]:
    """Follow-up, review request and reminder (per order or per received item), reorder reminders."""
    steps, prefix = policy.steps, "post"
    plan: list[Planned] = []
    if steps.follow_up.enabled:
        plan.append(Planned(due(policy, tz, delivered_at, steps.follow_up.after), Step.FOLLOW_UP, prefix))
    review = steps.review_request
    if review.enabled:
        review_due = due(policy, tz, delivered_at, review.after)
        targets: list[str | None] = [None] if review.per == "order" else [i for i in received if order.item(i)]
        for item_id in targets:
            item = order.item(item_id) if item_id else None
            context: dict[str, Any] = {"item": item.model_dump(mode="json")} if item else {}
            if item is not None and (link := links.link("review", sku=item.sku)) is not None:
                context["links"] = links.base_context()["links"] | {"review": link}
            plan.append(Planned(review_due, Step.REVIEW_REQUEST, item_id or "order", item_id, context=context))
            if review.reminder_after is not None:
                reminder_due = due(policy, tz, review_due, review.reminder_after)
                plan.append(Planned(reminder_due, Step.REVIEW_REMINDER, item_id or "order", item_id, context=context))
    if steps.reorder_reminder.enabled:
        plan.extend(reorder_plan(policy, tz, order, delivered_at, received, links))
    return plan


def reorder_plan(
    policy: Policy, tz: ZoneInfo, order: Order, delivered_at: datetime, received: dict[str, int], links: Links
) -> list[Planned]:
    """Reminders before each received item's supply runs out, per the policy's first matching reorder rule."""
    plan: list[Planned] = []
    for item_id, qty in received.items():
        item = order.item(item_id)
        rule = next((r for r in policy.reorder if item and r.matches(item.sku)), None)
        if item is None or rule is None:
            continue
        runs_out = delivered_at + timedelta(days=rule.supply_days_per_unit * qty)
        defaults = policy.defaults
        before = add_duration(
            runs_out,
            rule.remind_before,
            tz=tz,
            business_days=defaults.business_days,
            holidays=defaults.holidays,
            backwards=True,
        )
        when = max(before, delivered_at)
        context = {
            "reorder": {"sku": item.sku, "name": item.name},
            "links": links.base_context()["links"]
            | ({"reorder": link} if (link := links.link("reorder", sku=item.sku)) else {}),
        }
        for n in range(1, rule.max_reminders + 1):
            plan.append(Planned(when, Step.REORDER_REMINDER, f"{item_id}-{n}", item_id, item.sku, context))
            if rule.repeat_every is None:
                break
            when = due(policy, tz, when, rule.repeat_every)
    return plan


def prune_plan(
    plan: list[Planned], order: Order, state: JourneyState
) -> tuple[list[Planned], list[tuple[Planned, str]]]:
    """What stays, and what refunds made moot with why (to record as skipped). Reviews already written and
    reminders for SKUs bought again just go."""
    refunded = fully_refunded_items(order, state)
    all_refunded = refunded >= {i.id for i in order.items}

    def moot(p: Planned) -> bool:
        if p.step in REVIEW_STEPS:
            return state.review_submitted or (p.item_id is not None and p.item_id in state.reviewed_items)
        if p.step is Step.REORDER_REMINDER:
            return state.reorder_cancelled or p.sku in state.reordered_skus
        return False

    def refunded_away(p: Planned) -> bool:
        if p.step not in (*REVIEW_STEPS, Step.REORDER_REMINDER):
            return False
        return all_refunded if p.item_id is None else p.item_id in refunded

    keep: list[Planned] = []
    dropped: list[tuple[Planned, str]] = []
    for planned in plan:
        if moot(planned):
            continue
        if refunded_away(planned):
            what = "the order was refunded" if planned.item_id is None else f"item {planned.item_id} was refunded"
            dropped.append((planned, what))
            continue
        keep.append(planned)
    return keep, dropped


def blocked(planned: Planned, exchanges: Iterable[ExchangeRecord]) -> bool:
    """A review waits while an exchange of its item (or any, for a whole-order review) is on its way."""
    return planned.step in REVIEW_STEPS and any(e.open and e.covers(planned.item_id) for e in exchanges)


def planned_actions(plan: Iterable[Planned], exchanges: Iterable[ExchangeRecord]) -> list[PlannedAction]:
    """The plan as the journey's state shows it, soonest first, saying which reviews wait for a replacement."""
    exchanges = list(exchanges)
    return [
        PlannedAction(
            what=p.label + (" (after the exchange's replacement arrives)" if blocked(p, exchanges) else ""),
            due_at=p.due_at,
        )
        for p in sorted(plan, key=by_due)
    ]


def next_ready(plan: Iterable[Planned], exchanges: Iterable[ExchangeRecord]) -> Planned | None:
    """The earliest planned message not held back by an exchange."""
    exchanges = list(exchanges)
    ready = [p for p in plan if not blocked(p, exchanges)]
    return min(ready, key=by_due) if ready else None


def postpone_reviews(
    plan: Iterable[Planned], policy: Policy, tz: ZoneInfo, exchange: ExchangeRecord, delivered_at: datetime
) -> None:
    """An exchange's replacement arrived: its reviews are due as long after this delivery as after the first."""
    review = policy.steps.review_request
    request_due = due(policy, tz, delivered_at, review.after)
    for planned in plan:
        if planned.step not in REVIEW_STEPS or not exchange.covers(planned.item_id):
            continue
        when = request_due
        if planned.step is Step.REVIEW_REMINDER and review.reminder_after is not None:
            when = due(policy, tz, request_due, review.reminder_after)
        planned.due_at = max(planned.due_at, when)
