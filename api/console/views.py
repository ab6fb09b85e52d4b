"""What the order page shows, read from the store, the journey's `state` query and the audit log: the
order's story (messages, scans, delays, support's actions, newest first), its line items, and links.

This is support's story of one order, not the engineer's timeline read from Temporal histories
(api/timeline.py, api/run_reader.py): its entries are `StoryEntry`, not api.timeline's `TimelineEntry`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote

from fastapi.concurrency import run_in_threadpool
from temporalio.service import RPCError, RPCStatusCode

from api.auth import merchant_scope
from api.console.words import (
    ACTION_WORDS,
    CHANNEL_WORDS,
    DELAY_WORDS,
    SKIP_WORDS,
    STATUS_WORDS,
    STEP_WORDS,
    aware,
)
from api.journey_state import read_journey_state
from api.services import Services
from domain import (
    Actor,
    AuditEntry,
    DelayAlert,
    MessageOutcome,
    MessageStatus,
    Order,
    SkipReason,
    TrackingEvent,
    TrackingStatus,
    journey_id,
)
from domain.carriers import carrier_name
from domain.delivery import DeliveryStatus
from storage import OutboxRow
from workflows.models import JourneyState, ParcelState
from workflows.support_rules import money, refunded_quantities

log = logging.getLogger("aftercare.api.console")


@dataclass(frozen=True)
class StoryEntry:
    """One line of the order's story: a message, a scan, a delay, an action, in one list."""

    at: datetime | None
    kind: str
    title: str
    detail: str = ""
    badge: str = ""
    tone: str = "info"  # ok, warn, bad, info, muted: the badge's colour


# How a provider's delivery report colours a sent message's badge.
DELIVERY_TONES = {
    DeliveryStatus.DEFERRED: "warn",
    DeliveryStatus.DELIVERED: "ok",
    DeliveryStatus.OPENED: "ok",
    DeliveryStatus.CLICKED: "ok",
    DeliveryStatus.FAILED: "bad",
    DeliveryStatus.BOUNCED: "bad",
    DeliveryStatus.COMPLAINED: "bad",
    DeliveryStatus.UNSUBSCRIBED: "warn",
}


def message_entry(message: MessageOutcome, outbox: OutboxRow | None = None) -> StoryEntry:
    """A message as the journey recorded it; with its outbox row, what the provider reported since (delivered,
    bounced, opened...) and whether a send the journey saw as unconfirmed was confirmed."""
    step, channel = STEP_WORDS.get(message.step, message.step.value), CHANNEL_WORDS.get(message.channel, "?")
    what = f"{step} by {channel}"
    if message.status is MessageStatus.SENT:
        # the outbox row's address, when there is one: erasure and retention clear it there, not in the journey
        recipient = outbox.recipient if outbox is not None else message.recipient
        to = f" to {recipient}" if recipient else ""
        detail = message.detail
        if outbox is not None and detail.startswith("unconfirmed") and outbox.provider_message_id:
            detail = outbox.detail  # "confirmed by <provider>'s delivery callback (...)"
        if outbox is not None and outbox.delivery_status is not None:
            status = outbox.delivery_status
            when = f" {aware(outbox.delivery_at):%Y-%m-%d %H:%M} UTC" if outbox.delivery_at else ""
            report = f"{status.value}{when} ({outbox.delivery_detail or 'provider callback'})"
            detail = " · ".join(p for p in (detail, report) if p)
            return StoryEntry(
                message.at,
                "message",
                f"{what}{to} — sent, {status.value}",
                detail,
                status.value,
                DELIVERY_TONES[status],
            )
        return StoryEntry(message.at, "message", f"{what}{to} — sent", detail, "sent", "ok")
    said = outbox.detail if outbox is not None else message.detail  # a skip's detail may name the address
    if message.status is MessageStatus.FAILED:
        return StoryEntry(message.at, "message", f"{what} — failed", said, "failed", "bad")
    reason = message.skip_reason
    if reason is SkipReason.NOT_APPLICABLE and said:
        why, detail = said, ""
    else:
        why, detail = (SKIP_WORDS.get(reason, str(reason)) if reason else "no reason given"), said
    return StoryEntry(message.at, "message", f"{what} — skipped: {why}", detail, "skipped", "muted")


def parcel_label(carrier: str, provider: str | None) -> str:
    """`UPS via AfterShip`: the carrier the customer knows, and (for support) whom we ask about the parcel."""
    return (
        f"{carrier_name(carrier)} via {carrier_name(provider)}"
        if provider and provider != carrier
        else carrier_name(carrier)
    )


def tracking_entry(event: TrackingEvent, parcel: ParcelState | None = None) -> StoryEntry:
    """One scan; `parcel` (the journey's record of it) names its carrier, the scan only the provider it came from."""
    tone = {TrackingStatus.DELIVERED: "ok", TrackingStatus.EXCEPTION: "bad", TrackingStatus.ATTEMPT_FAILED: "warn"}
    words = STATUS_WORDS.get(event.status, event.status.value)
    if event.exception_reason is not None:
        words += f" ({event.exception_reason.value})"
    detail = " · ".join(p for p in (event.description, event.location) if p)
    who = parcel_label(parcel.carrier, parcel.provider) if parcel else carrier_name(event.carrier)
    title = f"Parcel {event.tracking_number} ({who}): {words}"
    return StoryEntry(
        event.occurred_at,
        "tracking",
        title,
        detail,
        event.status.value.replace("_", " "),
        tone.get(event.status, "info"),
    )


def delay_entry(delay: DelayAlert) -> StoryEntry:
    parcel = f" — parcel {delay.tracking_number}" if delay.tracking_number else ""
    level = f" (escalation level {delay.level})" if delay.level > 1 else ""
    title = f"Delay detected: {DELAY_WORDS.get(delay.kind, delay.kind.value)}{parcel}{level}"
    return StoryEntry(delay.detected_at, "delay", title, delay.detail, "delay", "warn")


def audit_entry(entry: AuditEntry) -> StoryEntry:
    who = f"{entry.actor.name} ({entry.actor.role.value})"
    what = ACTION_WORDS.get(entry.action, entry.action)
    if entry.outcome == "done":
        summary = str(entry.result.get("summary") or "")
        return StoryEntry(entry.at, "action", f"{what} by {who}: {summary}".rstrip(": "), _note(entry), "done", "ok")
    verb = "refused" if entry.outcome == "refused" else "failed"
    tone = "warn" if entry.outcome == "refused" else "bad"
    return StoryEntry(entry.at, "action", f"{what} by {who} — {verb}: {entry.reason}", _note(entry), verb, tone)


def _note(entry: AuditEntry) -> str:
    note = entry.request.get("note") or ""
    return f"note: {note}" if note else ""


def order_story(
    order: Order,
    state: JourneyState | None,
    events: list[TrackingEvent],
    audit: list[AuditEntry],
    outbox: Sequence[OutboxRow] = (),
) -> list[StoryEntry]:
    """Everything that happened to the order, newest first; `outbox` adds what providers reported of messages."""
    rows = {row.idempotency_key: row for row in outbox}
    items = sum(i.quantity for i in order.items)
    entries = [
        StoryEntry(
            order.placed_at,
            "order",
            f"Order placed: {items} item{'' if items == 1 else 's'}, {money(order.total, order.currency)}",
            badge="placed",
        )
    ]
    parcels = {p.tracking_number: p for p in state.parcels} if state is not None else {}
    entries += [tracking_entry(e, parcels.get(e.tracking_number)) for e in events]
    entries += [audit_entry(a) for a in audit]
    if state is not None:
        entries += [message_entry(m, rows.get(m.idempotency_key)) for m in state.messages]
        delays = {(d.kind, d.tracking_number, d.level, d.detected_at): d for d in state.delays}
        for parcel in state.parcels:
            delays.update({(d.kind, d.tracking_number, d.level, d.detected_at): d for d in parcel.delays})
        entries += [delay_entry(d) for d in delays.values()]
        recorded = {a.entry_id for a in audit}
        for record in state.actions:  # done, but its audit row not written yet
            if f"{state.workflow_id}:{record.update_id}" not in recorded:
                who = f"{record.by.name} ({record.by.role.value})"
                title = f"{ACTION_WORDS.get(record.action, record.action)} by {who}: {record.summary}"
                entries.append(StoryEntry(record.at, "action", title, badge="done", tone="ok"))
        for exchange in state.exchanges:
            if exchange.replacement_delivered_at is not None:
                title = f"Replacement for exchange {exchange.exchange_id} delivered"
                entries.append(
                    StoryEntry(exchange.replacement_delivered_at, "tracking", title, badge="delivered", tone="ok")
                )
        if state.completed_at is not None:
            entries.append(StoryEntry(state.completed_at, "order", "Journey completed", badge="completed"))
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: aware(e.at) if e.at else oldest, reverse=True)


@dataclass
class ItemRow:
    id: str
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    refunded: int
    exchanged: int

    @property
    def refundable_units(self) -> int:
        return self.quantity - self.refunded


def item_rows(order: Order, state: JourneyState | None) -> list[ItemRow]:
    refunded = refunded_quantities(order, state) if state else {}
    exchanged: dict[str, int] = {}
    for exchange in state.exchanges if state else []:
        for item in exchange.items:
            exchanged[item.item_id] = exchanged.get(item.item_id, 0) + item.quantity
    return [
        ItemRow(i.id, i.sku, i.name, i.quantity, i.unit_price, refunded.get(i.id, 0), exchanged.get(i.id, 0))
        for i in order.items
    ]


def temporal_link(svc: Services, workflow_id: str) -> str | None:
    if not svc.temporal_ui_url:
        return None
    return f"{svc.temporal_ui_url.rstrip('/')}/namespaces/{quote(svc.namespace)}/workflows/{quote(workflow_id)}"


async def visible_order(svc: Services, actor: Actor, merchant_id: str, order_id: str) -> Order | None:
    """The order, or None when it is missing or not the actor's to see: the two look the same."""
    scope = merchant_scope(actor)
    if scope is not None and scope != merchant_id:
        return None
    return await run_in_threadpool(svc.store.get_order, merchant_id, order_id)


async def journey_state(svc: Services, merchant_id: str, order_id: str) -> tuple[str, JourneyState | None, str]:
    """The journey's workflow id, and its state or None and why it could not be read, in words."""
    workflow_id = await run_in_threadpool(svc.store.journey_workflow_id, merchant_id, order_id)
    if workflow_id is None:  # the order itself is gone: as good as no journey
        return journey_id(merchant_id, order_id), None, NO_JOURNEY
    try:
        return workflow_id, await read_journey_state(svc.temporal, workflow_id), ""
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return workflow_id, None, NO_JOURNEY
        return workflow_id, None, f"Temporal could not be reached: {err.message}"
    except Exception as err:  # a query the journey could not answer: show what the store knows
        log.warning("state of %s unreadable: %s", workflow_id, err)
        return workflow_id, None, f"the journey could not answer: {err}"


NO_JOURNEY = "this order has no journey in Temporal (not started yet, or removed after it ended)"
