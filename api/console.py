"""The support console: server-rendered pages to find an order, read its timeline and act on it.

Server-rendered (Jinja2, no build step, no JavaScript needed) so that it works in any browser and behind any
proxy, and so that everything it shows comes from the same places the JSON API reads: the store, the
journey's `state` query and the audit log. Acting goes through `api.support_routes.act_on_order`, so a
refusal reads the same here as over HTTP.

Why each piece is shaped the way it is:

- Sign-in takes an API token once and opens a server-side session (`Store.open_session`); the
  `aftercare_session` cookie (the one `api.auth` reads) carries the session's random id, never the token.
  Signing out deletes the session, so the old cookie stops working anywhere; it also ends when idle, at its
  absolute expiry and when its token is revoked (`SessionPolicy`, from settings). The cookie is HttpOnly so
  page scripts cannot read it, SameSite=Strict so no other site can send a form with it, Secure over https;
  every POST also refuses a foreign `Origin` (or `Referer`). Sign-in attempts are rate-limited per client
  address and overall (429 with Retry-After). A browser that is not signed in is sent to the login page,
  never shown a JSON 401.
- Every action is form -> confirmation page (what will happen, in words) -> POST -> redirect to the order
  with a banner (POST/redirect/GET), so a reload never repeats an action. The idempotency key is made when
  the form is first drawn and travels in hidden fields: pressing Confirm twice acts once.
- Engineers may look but not act: the forms are replaced by a note saying why.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from temporalio.service import RPCError, RPCStatusCode

from api.actions import merchant_scope
from api.auth import LEGACY_TOKEN_COOKIE, SESSION_COOKIE, allows, foreign_origin, session_actor
from api.errors import ApiError
from api.journey_state import read_journey_state
from api.services import Services
from api.support_routes import ACTORS, act_on_order
from domain import (
    Actor,
    AuditEntry,
    Channel,
    DelayAlert,
    DelayKind,
    MessageOutcome,
    MessageStatus,
    Order,
    RefundReason,
    SkipReason,
    Step,
    TrackingEvent,
    TrackingStatus,
    journey_id,
)
from workflows import commands as act
from workflows.models import JourneyState
from workflows.support import money, refunded_quantities

log = logging.getLogger("aftercare.api.console")

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STYLESHEET = HERE / "static" / "console.css"

FLASH_COOKIE = "aftercare_flash"
MAY_ACT = frozenset(ACTORS)
TOKEN_HINT = "an admin creates one with `aftercare token create`"
TIMES = "\N{MULTIPLICATION SIGN}"  # as in "1 TIMES Mug (li-1)"

# --- words ------------------------------------------------------------------------------------------

STEP_WORDS = {
    Step.CONFIRMATION: "Order confirmation",
    Step.SHIPPED: "Shipping notice",
    Step.STATUS_UPDATE: "Tracking update",
    Step.DELAY_ALERT: "Delay alert",
    Step.DELIVERED: "Delivery notice",
    Step.FOLLOW_UP: "Follow-up",
    Step.REVIEW_REQUEST: "Review request",
    Step.REVIEW_REMINDER: "Review reminder",
    Step.REORDER_REMINDER: "Reorder reminder",
    Step.REFUND_ISSUED: "Refund notice",
    Step.EXCHANGE_CREATED: "Exchange notice",
    Step.CANCELLED: "Cancellation notice",
}
CHANNEL_WORDS = {Channel.EMAIL: "email", Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp"}
SKIP_WORDS = {
    SkipReason.OPTED_OUT: "the customer opted out (or gave no marketing consent)",
    SkipReason.NO_ADDRESS: "no address for this channel",
    SkipReason.CAPPED: "the marketing cap was reached",
    SkipReason.SUPPRESSED: "the address is suppressed (it bounced or complained)",
    SkipReason.PAUSED: "messages were paused",
    SkipReason.NOT_APPLICABLE: "no longer relevant",
}
STATUS_WORDS = {
    TrackingStatus.PENDING: "label created, not scanned yet",
    TrackingStatus.IN_TRANSIT: "in transit",
    TrackingStatus.OUT_FOR_DELIVERY: "out for delivery",
    TrackingStatus.AVAILABLE_FOR_PICKUP: "available for pickup",
    TrackingStatus.ATTEMPT_FAILED: "delivery attempt failed",
    TrackingStatus.DELIVERED: "delivered",
    TrackingStatus.EXCEPTION: "carrier exception",
    TrackingStatus.RETURNING: "returning to sender",
    TrackingStatus.RETURNED: "returned to sender",
    TrackingStatus.EXPIRED: "tracking expired",
    TrackingStatus.CANCELLED: "label cancelled",
    TrackingStatus.UNKNOWN: "unknown status",
}
DELAY_WORDS = {
    DelayKind.FULFILLMENT_LATE: "not shipped within the fulfillment SLA",
    DelayKind.PICKUP_LATE: "label made but the carrier has not picked it up",
    DelayKind.STALLED: "no scan for too long",
    DelayKind.EDD_MISSED: "estimated delivery date missed",
    DelayKind.EDD_REVISED: "estimated delivery date moved later",
    DelayKind.CARRIER_EXCEPTION: "the carrier reported a problem",
}
ACTION_WORDS = {
    act.REFUND: "Refund",
    act.EXCHANGE: "Exchange",
    act.CANCEL: "Cancellation",
    act.PAUSE: "Messages paused",
    act.RESUME: "Messages resumed",
    act.OPT_OUT: "Opt-out",
    act.ADD_NOTE: "Note",
}
DONE_WORDS = {
    act.REFUND: "Refund done",
    act.EXCHANGE: "Exchange done",
    act.CANCEL: "Cancellation done",
    act.PAUSE: "Pause done",
    act.RESUME: "Resume done",
    act.OPT_OUT: "Opt-out done",
    act.ADD_NOTE: "Note added",
}
REASON_WORDS = {
    RefundReason.DAMAGED: "damaged",
    RefundReason.LATE: "late",
    RefundReason.WRONG_ITEM: "wrong item",
    RefundReason.NOT_AS_DESCRIBED: "not as described",
    RefundReason.GOODWILL: "goodwill",
    RefundReason.OTHER: "other",
}
# The console's names for actions (URL segments) -> the journey's Update names.
SLUGS = {
    "refund": act.REFUND,
    "exchange": act.EXCHANGE,
    "cancel": act.CANCEL,
    "pause": act.PAUSE,
    "resume": act.RESUME,
    "opt-out": act.OPT_OUT,
    "note": act.ADD_NOTE,
}

# --- formatting -------------------------------------------------------------------------------------


def utc(at: datetime | None) -> str:
    """A time as people read it in a UTC-only console: `2026-11-22 15:02 UTC`."""
    if at is None:
        return "—"
    return f"{_aware(at).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def relative(at: datetime | None, now: datetime | None = None) -> str:
    """How far from now, in words: `3 minutes ago`, `in 2 days`, `just now`."""
    if at is None:
        return ""
    seconds = (_aware(at) - (now or datetime.now(UTC))).total_seconds()
    span = abs(seconds)
    if span < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if span >= size * 0.75 or unit == "minute":
            count = max(1, round(span / size))
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if seconds > 0 else f"{words} ago"
    raise AssertionError("unreachable")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def customer_name(order: Order) -> str:
    customer = order.customer
    full = " ".join(n for n in (customer.first_name, customer.last_name) if n)
    return full or str(customer.email or "") or f"customer {customer.id}"


def planned_words(what: str) -> str:
    """A plan label (`review_request (li-1)`) in words (`Review request (li-1)`)."""
    head, _, rest = what.partition(" ")
    try:
        step = Step(head)
    except ValueError:
        return what[:1].upper() + what[1:]
    return f"{STEP_WORDS[step]} {rest}".strip()


TEMPLATES.env.filters["utc"] = utc
TEMPLATES.env.filters["ago"] = relative
TEMPLATES.env.globals["STATUS_WORDS"] = STATUS_WORDS
TEMPLATES.env.globals["REASON_WORDS"] = REASON_WORDS
TEMPLATES.env.globals["CHANNEL_WORDS"] = CHANNEL_WORDS

# --- signing in, cookies, origin ----------------------------------------------------------------------


def _svc(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _link(request: Request, name: str, **params: str) -> str:
    """A path to one of our pages, honouring a root_path when the app is mounted below `/`."""
    return str(request.scope.get("root_path", "")) + str(request.app.url_path_for(name, **params))


async def _signed_in(request: Request) -> Actor | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    return await session_actor(request, session_id)


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{_link(request, 'console_login')}?next={quote(here)}", status_code=303)


def _safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a console page of ours, never another site."""
    home = _link(request, "console_search")
    if not target or not target.startswith(home) or target.startswith("//") or "\\" in target:
        return home
    return target


def _foreign_origin(request: Request) -> str | None:
    """The other site a POST came from, if it did: SameSite=Strict already keeps our cookie off such
    requests; this refuses them outright, also for browsers that send Origin but ignore SameSite."""
    return foreign_origin(request)


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _set_flash(response: Response, request: Request, kind: str, text: str, where: str) -> None:
    """A one-time banner for the page we redirect to; a cookie, so it survives any number of API processes."""
    payload = json.dumps({"kind": kind, "text": text[:1500], "where": where}).encode()
    response.set_cookie(
        FLASH_COOKIE,
        base64.urlsafe_b64encode(payload).decode(),
        max_age=120,
        path=_link(request, "console_search"),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _take_flash(request: Request, where: str) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        flash = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(flash, dict) or flash.get("where") != where:
        return None
    return {"kind": str(flash.get("kind", "ok")), "text": str(flash.get("text", ""))}


# --- the order page's pieces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the order's story: a message, a scan, a delay, an action, in one list."""

    at: datetime | None
    kind: str
    title: str
    detail: str = ""
    badge: str = ""
    tone: str = "info"  # ok, warn, bad, info, muted: the badge's colour


def message_entry(message: MessageOutcome) -> TimelineEntry:
    step, channel = STEP_WORDS.get(message.step, message.step.value), CHANNEL_WORDS.get(message.channel, "?")
    what = f"{step} by {channel}"
    if message.status is MessageStatus.SENT:
        to = f" to {message.recipient}" if message.recipient else ""
        return TimelineEntry(message.at, "message", f"{what}{to} — sent", message.detail, "sent", "ok")
    if message.status is MessageStatus.FAILED:
        return TimelineEntry(message.at, "message", f"{what} — failed", message.detail, "failed", "bad")
    reason = message.skip_reason
    if reason is SkipReason.NOT_APPLICABLE and message.detail:
        why, detail = message.detail, ""
    else:
        why, detail = (SKIP_WORDS.get(reason, str(reason)) if reason else "no reason given"), message.detail
    return TimelineEntry(message.at, "message", f"{what} — skipped: {why}", detail, "skipped", "muted")


def tracking_entry(event: TrackingEvent) -> TimelineEntry:
    tone = {TrackingStatus.DELIVERED: "ok", TrackingStatus.EXCEPTION: "bad", TrackingStatus.ATTEMPT_FAILED: "warn"}
    words = STATUS_WORDS.get(event.status, event.status.value)
    if event.exception_reason is not None:
        words += f" ({event.exception_reason.value})"
    detail = " · ".join(p for p in (event.description, event.location) if p)
    title = f"Parcel {event.tracking_number} ({event.carrier}): {words}"
    return TimelineEntry(
        event.occurred_at,
        "tracking",
        title,
        detail,
        event.status.value.replace("_", " "),
        tone.get(event.status, "info"),
    )


def delay_entry(delay: DelayAlert) -> TimelineEntry:
    parcel = f" — parcel {delay.tracking_number}" if delay.tracking_number else ""
    level = f" (escalation level {delay.level})" if delay.level > 1 else ""
    title = f"Delay detected: {DELAY_WORDS.get(delay.kind, delay.kind.value)}{parcel}{level}"
    return TimelineEntry(delay.detected_at, "delay", title, delay.detail, "delay", "warn")


def audit_entry(entry: AuditEntry) -> TimelineEntry:
    who = f"{entry.actor.name} ({entry.actor.role.value})"
    what = ACTION_WORDS.get(entry.action, entry.action)
    if entry.outcome == "done":
        summary = str(entry.result.get("summary") or "")
        return TimelineEntry(entry.at, "action", f"{what} by {who}: {summary}".rstrip(": "), _note(entry), "done", "ok")
    verb = "refused" if entry.outcome == "refused" else "failed"
    tone = "warn" if entry.outcome == "refused" else "bad"
    return TimelineEntry(entry.at, "action", f"{what} by {who} — {verb}: {entry.reason}", _note(entry), verb, tone)


def _note(entry: AuditEntry) -> str:
    note = entry.request.get("note") or ""
    return f"note: {note}" if note else ""


def timeline(
    order: Order, state: JourneyState | None, events: list[TrackingEvent], audit: list[AuditEntry]
) -> list[TimelineEntry]:
    """Everything that happened to the order, newest first."""
    items = sum(i.quantity for i in order.items)
    entries = [
        TimelineEntry(
            order.placed_at,
            "order",
            f"Order placed: {items} item{'' if items == 1 else 's'}, {money(order.total, order.currency)}",
            badge="placed",
        )
    ]
    entries += [tracking_entry(e) for e in events]
    entries += [audit_entry(a) for a in audit]
    if state is not None:
        entries += [message_entry(m) for m in state.messages]
        delays = {(d.kind, d.tracking_number, d.level, d.detected_at): d for d in state.delays}
        for parcel in state.parcels:
            delays.update({(d.kind, d.tracking_number, d.level, d.detected_at): d for d in parcel.delays})
        entries += [delay_entry(d) for d in delays.values()]
        recorded = {a.entry_id for a in audit}
        for record in state.actions:  # done, but its audit row not written yet
            if f"{state.workflow_id}:{record.update_id}" not in recorded:
                who = f"{record.by.name} ({record.by.role.value})"
                title = f"{ACTION_WORDS.get(record.action, record.action)} by {who}: {record.summary}"
                entries.append(TimelineEntry(record.at, "action", title, badge="done", tone="ok"))
        for exchange in state.exchanges:
            if exchange.replacement_delivered_at is not None:
                title = f"Replacement for exchange {exchange.exchange_id} delivered"
                entries.append(
                    TimelineEntry(exchange.replacement_delivered_at, "tracking", title, badge="delivered", tone="ok")
                )
        if state.completed_at is not None:
            entries.append(TimelineEntry(state.completed_at, "order", "Journey completed", badge="completed"))
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: _aware(e.at) if e.at else oldest, reverse=True)


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


async def _visible_order(svc: Services, actor: Actor, merchant_id: str, order_id: str) -> Order | None:
    """The order, or None when it is missing or not the actor's to see: the two look the same."""
    scope = merchant_scope(actor)
    if scope is not None and scope != merchant_id:
        return None
    return await run_in_threadpool(svc.store.get_order, merchant_id, order_id)


async def _journey_id(svc: Services, merchant_id: str, order_id: str) -> str:
    return await run_in_threadpool(svc.store.journey_workflow_id, merchant_id, order_id) or journey_id(
        merchant_id, order_id
    )


async def _journey_state(svc: Services, merchant_id: str, order_id: str) -> tuple[JourneyState | None, str]:
    """The journey's state, or None and why it could not be read, in words."""
    try:
        return await read_journey_state(svc.temporal, await _journey_id(svc, merchant_id, order_id)), ""
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None, "this order has no journey in Temporal (not started yet, or removed after it ended)"
        return None, f"Temporal could not be reached: {err.message}"
    except Exception as err:  # a query the journey could not answer: show what the store knows
        log.warning("state of %s/%s unreadable: %s", merchant_id, order_id, err)
        return None, f"the journey could not answer: {err}"


# --- proposals: a form, read and checked, as the words the confirmation page shows ----------------------


class FormProblem(Exception):
    """A form that cannot become an action; the message says what to fix."""


@dataclass
class Proposal:
    """What will be asked of the journey (`fields`), and what that means in words."""

    fields: dict[str, Any]
    sentence: str
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    order: Order
    state: JourneyState
    svc: Services

    @property
    def who(self) -> str:
        return customer_name(self.order)

    def cash(self, amount: Decimal) -> str:
        return money(amount, self.order.currency)


def _text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise FormProblem(f"{name} is {len(text)} characters long; keep it to {limit}")
    return text


def _quantity(form: FormData, name: str, what: str) -> int:
    raw = _text(form, name) or "0"
    try:
        qty = int(raw)
    except ValueError:
        raise FormProblem(f"the quantity of {what} must be a whole number, not {raw!r}") from None
    if qty < 0:
        raise FormProblem(f"the quantity of {what} cannot be negative ({qty})")
    return qty


def _with_note(form: FormData, proposal: Proposal) -> Proposal:
    note = _text(form, "note")
    if note:
        proposal.fields["note"] = note
        proposal.details.append(f"Note kept on the order's record: “{note}”")
    return proposal


def propose_refund(form: FormData, ctx: Context) -> Proposal:
    order, state = ctx.order, ctx.state
    raw_reason = _text(form, "reason")
    try:
        reason = RefundReason(raw_reason)
    except ValueError:
        choices = ", ".join(REASON_WORDS.values())
        raise FormProblem(f"choose a reason for the refund ({choices})") from None
    scope = _text(form, "scope")
    fields: dict[str, Any] = {"reason": reason.value}
    warnings: list[str] = []
    if scope == "items":
        rows = {r.id: r for r in item_rows(order, state)}
        chosen: dict[str, int] = {}
        for item in order.items:
            qty = _quantity(form, f"qty-{item.id}", f"{item.name} ({item.id})")
            if qty:
                chosen[item.id] = qty
                if qty > rows[item.id].refundable_units:
                    warnings.append(
                        f"only {rows[item.id].refundable_units} of {item.quantity} {TIMES} {item.name} can still be "
                        f"refunded, so the journey will refuse this"
                    )
        if not chosen:
            raise FormProblem("choose at least one item to refund: set its quantity above 0")
        by_id = {i.id: i for i in order.items}
        amount = sum((by_id[i].unit_price * q for i, q in chosen.items()), Decimal(0))
        what = ", ".join(f"{q} {TIMES} {by_id[i].name} ({i})" for i, q in chosen.items())
        fields["items"] = chosen
        sentence = f"Refund {ctx.cash(amount)} for {what} to {ctx.who} — reason: {REASON_WORDS[reason]}"
    elif scope == "amount":
        raw = _text(form, "amount")
        try:
            amount = Decimal(raw.replace(",", ""))
        except InvalidOperation:
            raise FormProblem(f"the amount must be a number such as 12.50, not {raw!r}") from None
        if not amount.is_finite() or amount <= 0:
            raise FormProblem(f"the amount must be more than 0, not {raw!r}")
        if amount != amount.quantize(Decimal("0.01")):
            raise FormProblem(f"the amount can have at most 2 decimals, not {raw!r}")
        fields["amount"] = str(amount)
        sentence = f"Refund {ctx.cash(amount)} to {ctx.who} — reason: {REASON_WORDS[reason]}"
        amount_left = state.refundable
        if amount > amount_left:
            warnings.append(
                f"that is more than the {ctx.cash(amount_left)} still refundable, so the journey will refuse it"
            )
    elif scope == "whole":
        left = [r for r in item_rows(order, state) if r.refundable_units > 0]
        what = ", ".join(f"{r.refundable_units} {TIMES} {r.name} ({r.id})" for r in left) or "nothing"
        sentence = (
            f"Refund everything still refundable, {ctx.cash(state.refundable)} ({what}), to {ctx.who} — "
            f"reason: {REASON_WORDS[reason]}"
        )
    else:
        raise FormProblem("say what to refund: chosen items, an amount, or everything still refundable")
    details = []
    if order.payment is not None:
        details.append(f"The money goes back through {order.payment.provider} (payment {order.payment.reference}).")
    else:
        warnings.append("this order came without a payment reference, so the journey cannot refund it")
    return _with_note(form, Proposal(fields, sentence, details, warnings))


def propose_exchange(form: FormData, ctx: Context) -> Proposal:
    chosen: list[dict[str, Any]] = []
    names = {i.id: i.name for i in ctx.order.items}
    for item in ctx.order.items:
        qty = _quantity(form, f"xqty-{item.id}", f"{item.name} ({item.id})")
        if not qty:
            continue
        sku = _text(form, f"xsku-{item.id}", 128)
        if not sku:
            raise FormProblem(f"give the replacement SKU for {item.name} ({item.id})")
        chosen.append({"item_id": item.id, "quantity": qty, "replacement_sku": sku})
    if not chosen:
        raise FormProblem("choose at least one item to exchange: set its quantity above 0 and its replacement SKU")
    swaps = ", ".join(
        f"{c['quantity']} {TIMES} {names[c['item_id']]} ({c['item_id']}) for SKU {c['replacement_sku']}" for c in chosen
    )
    reason = _text(form, "reason", 500)
    sentence = f"Exchange {swaps} for {ctx.who}" + (f" — reason: {reason}" if reason else "")
    details = [
        "A return label is made for what goes back; the customer is sent it, and the replacement, once shipped, "
        "is tracked like any parcel."
    ]
    return _with_note(form, Proposal({"items": chosen, "reason": reason}, sentence, details))


def propose_cancel(form: FormData, ctx: Context) -> Proposal:
    reason = _text(form, "reason", 500)
    if not reason:
        raise FormProblem("a cancellation needs a reason (the customer may read it)")
    sentence = f"Cancel order {ctx.order.order_id} for {ctx.who} — reason: {reason}"
    loaded = ctx.svc.policies.get(ctx.order.merchant_id)
    refunds = loaded is None or loaded.policy.cancellation.refund == "full"
    if refunds and ctx.state.refundable > 0 and ctx.order.payment is not None:
        money_words = f"{ctx.cash(ctx.state.refundable)} is refunded to the customer (the merchant's policy)."
    else:
        money_words = "No money is refunded automatically; refund at the payment provider if needed."
    details = [
        money_words,
        "The customer is sent a cancellation notice, nothing else is sent, and the journey ends. "
        "Only possible before anything shipped.",
    ]
    return _with_note(form, Proposal({"reason": reason}, sentence, details))


def propose_pause(form: FormData, ctx: Context) -> Proposal:
    raw = _text(form, "until")
    fields: dict[str, Any] = {}
    warnings: list[str] = []
    if raw:
        try:
            until = _aware(datetime.fromisoformat(raw))
        except ValueError:
            example = "2026-12-01T09:00"
            raise FormProblem(f"'resume by itself at' must be a date and time such as {example}, not {raw!r}") from None
        fields["until"] = until.isoformat()
        sentence = f"Pause messages for order {ctx.order.order_id} to {ctx.who} until {utc(until)} ({relative(until)})"
        if until <= datetime.now(UTC):
            warnings.append("that time has passed, so the journey will refuse it")
    else:
        sentence = f"Pause messages for order {ctx.order.order_id} to {ctx.who} until someone resumes them"
    details = [
        "Messages that fall due meanwhile are skipped, not sent later. Notices about support's own actions "
        "(refunds, exchanges, cancellation) still go out."
    ]
    return _with_note(form, Proposal(fields, sentence, details, warnings))


def propose_resume(form: FormData, ctx: Context) -> Proposal:
    sentence = f"Resume messages for order {ctx.order.order_id} to {ctx.who}: from now on they go out as planned"
    return _with_note(form, Proposal({}, sentence))


def propose_opt_out(form: FormData, ctx: Context) -> Proposal:
    chosen: list[Channel] = []
    for raw in form.getlist("channels"):
        try:
            chosen.append(Channel(str(raw)))
        except ValueError:
            raise FormProblem(f"{raw!r} is not a channel; choose email, sms or whatsapp") from None
    if not chosen:
        raise FormProblem("choose at least one channel to stop")
    channels = " and ".join(CHANNEL_WORDS[c] for c in chosen)
    sentence = f"Stop every message by {channels} for order {ctx.order.order_id} to {ctx.who}"
    details = ["This covers notices about support's own actions too; other orders of this customer are not affected."]
    return _with_note(form, Proposal({"channels": [c.value for c in chosen]}, sentence, details))


def propose_note(form: FormData, ctx: Context) -> Proposal:
    text = _text(form, "text", 4000)
    if not text:
        raise FormProblem("a note needs some text")
    return Proposal({"text": text}, f"Add this note to order {ctx.order.order_id}'s record: “{text}”")


PROPOSERS: dict[str, Callable[[FormData, Context], Proposal]] = {
    act.REFUND: propose_refund,
    act.EXCHANGE: propose_exchange,
    act.CANCEL: propose_cancel,
    act.PAUSE: propose_pause,
    act.RESUME: propose_resume,
    act.OPT_OUT: propose_opt_out,
    act.ADD_NOTE: propose_note,
}
KEYED = frozenset({act.REFUND, act.EXCHANGE})  # the commands that carry their idempotency key in their fields


def new_key() -> str:
    return f"console-{uuid.uuid4().hex}"


def outcome_words(action: str, result: act.ActionResult, currency: str) -> str:
    summary = result.summary.removeprefix("note: ")
    text = f"{DONE_WORDS.get(action, 'Done')}: {summary}."
    if result.repeated:
        text += " (This had been done already with the same form; nothing new happened.)"
    if action in (act.REFUND, act.CANCEL) and result.refundable is not None:
        text += f" Still refundable: {money(result.refundable, currency)}."
    return text


# --- the pages -----------------------------------------------------------------------------------------


def build_router() -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        actor = context.pop("actor", None)
        context = {
            "actor": actor,
            "link": lambda route, **params: _link(request, route, **params),
            "now": datetime.now(UTC),
            **context,
        }
        response = TEMPLATES.TemplateResponse(request, f"console/{name}", context, status_code=status)
        response.headers["Cache-Control"] = "no-store"  # pages show live state and carry one-time keys
        # CSP, framing and referrer headers: api.headers.SecurityHeaders, for every page
        return response

    def problem(
        request: Request, actor: Actor | None, status: int, title: str, message: str, back: str | None = None
    ) -> Response:
        return page(request, "error.html", status, actor=actor, title=title, message=message, back=back)

    def refused_origin(request: Request, origin: str) -> Response:
        return problem(
            request,
            None,
            403,
            "Refused: sent from another site",
            f"This form was sent from {origin}, not from the console itself, so nothing was done. "
            f"Open the console directly and try again.",
        )

    @router.get("/static/console.css", name="console_css")
    async def stylesheet() -> FileResponse:
        return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @router.get("/login", name="console_login")
    async def login_form(request: Request, next: str | None = None, signed_out: bool = False) -> Response:
        actor = await _signed_in(request)
        return page(request, "login.html", actor=actor, next=_safe_next(request, next), signed_out=signed_out)

    @router.post("/login", name="console_login_post")
    async def login(request: Request) -> Response:
        if (origin := _foreign_origin(request)) is not None:
            return refused_origin(request, origin)
        svc = _svc(request)
        if (wait := svc.login_limiter.attempt(_client_address(request))) is not None:
            log.warning("console sign-in refused: too many attempts (retry in %ss)", wait)
            error = f"Too many attempts to sign in; wait {wait} seconds and try again."
            response = page(request, "login.html", 429, next=_link(request, "console_search"), error=error)
            response.headers["Retry-After"] = str(wait)
            return response
        form = await request.form()
        token = _text(form, "token", 512)
        target = _safe_next(request, _text(form, "next", 2000))
        if not token:
            error = f"Paste your API token to sign in; {TOKEN_HINT}."
            return page(request, "login.html", 400, next=target, error=error)
        opened = await run_in_threadpool(svc.store.open_session, token, svc.sessions.lifetime)
        if opened is None:
            error = f"That token is unknown or has been revoked, so you are not signed in; {TOKEN_HINT}."
            return page(request, "login.html", 401, next=target, error=error)
        if previous := request.cookies.get(SESSION_COOKIE):  # signing in again replaces the old session
            await run_in_threadpool(svc.store.close_session, previous)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            opened.session_id,
            max_age=int(svc.sessions.lifetime.total_seconds()),
            path="/",  # the JSON API reads the same cookie
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LEGACY_TOKEN_COOKIE, path="/")
        log.info("console sign-in: %s (%s)", opened.actor.name, opened.actor.role.value)
        return response

    @router.post("/logout", name="console_logout")
    async def logout(request: Request) -> Response:
        if (origin := _foreign_origin(request)) is not None:
            return refused_origin(request, origin)
        if session_id := request.cookies.get(SESSION_COOKIE):
            await run_in_threadpool(_svc(request).store.close_session, session_id)
        response = RedirectResponse(f"{_link(request, 'console_login')}?signed_out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(LEGACY_TOKEN_COOKIE, path="/")
        response.delete_cookie(FLASH_COOKIE, path=_link(request, "console_search"))
        return response

    @router.get("", name="console_search")
    async def search(request: Request, q: str = "") -> Response:
        actor = await _signed_in(request)
        if actor is None:
            return _to_login(request)
        query = q.strip()
        hits = []
        if query:
            hits = await run_in_threadpool(
                lambda: _svc(request).store.find_orders(query, 20, merchant_id=actor.merchant_id)
            )
            if len(hits) == 1:
                hit = hits[0]
                url = _link(request, "console_order", merchant_id=hit.merchant_id, order_id=hit.order_id)
                return RedirectResponse(url, status_code=303)
        return page(request, "search.html", actor=actor, q=query, hits=hits)

    @router.get("/orders/{merchant_id}/{order_id}", name="console_order")
    async def order_page(request: Request, merchant_id: str, order_id: str) -> Response:
        actor = await _signed_in(request)
        if actor is None:
            return _to_login(request)
        svc = _svc(request)
        order = await _visible_order(svc, actor, merchant_id, order_id)
        if order is None:
            message = f"There is no order {order_id!r} for merchant {merchant_id!r}. Search by order number, "
            message += "customer email or tracking number."
            return problem(request, actor, 404, "No such order", message)
        state, unavailable = await _journey_state(svc, merchant_id, order_id)
        events = await run_in_threadpool(svc.store.tracking_events_for_order, merchant_id, order_id)
        audit = await run_in_threadpool(svc.store.list_audit, merchant_id, order_id)
        where = f"{merchant_id}/{order_id}"
        may_act = allows(actor, MAY_ACT)
        response = page(
            request,
            "order.html",
            actor=actor,
            order=order,
            customer=customer_name(order),
            state=state,
            unavailable=unavailable,
            items=item_rows(order, state),
            timeline=timeline(order, state, events, audit),
            planned=[(planned_words(p.what), p.due_at) for p in (state.planned if state else [])],
            next_action=(planned_words(state.next_action.what), state.next_action.due_at)
            if state and state.next_action
            else None,
            temporal_url=temporal_link(svc, await _journey_id(svc, merchant_id, order_id)),
            flash=_take_flash(request, where),
            may_act=may_act,
            can_act=may_act and state is not None and state.completed_at is None,
            keys={slug: new_key() for slug in ("refund-items", "refund-amount", "refund-whole", *SLUGS)},
            reasons=list(RefundReason),
            channels=[c for c in Channel if state is None or c not in state.preferences.opted_out],
        )
        response.delete_cookie(FLASH_COOKIE, path=_link(request, "console_search"))
        return response

    async def acting(
        request: Request, merchant_id: str, order_id: str, slug: str
    ) -> tuple[Actor, str, Context] | Response:
        """Everything a POST to an action needs, or the page that says why it cannot go on."""
        if (origin := _foreign_origin(request)) is not None:
            return refused_origin(request, origin)
        actor = await _signed_in(request)
        if actor is None:
            return _to_login(request)
        back = _link(request, "console_order", merchant_id=merchant_id, order_id=order_id)
        action = SLUGS.get(slug)
        if action is None:
            known = ", ".join(SLUGS)
            return problem(request, actor, 404, "No such action", f"{slug!r} is not an action; known: {known}", back)
        if not allows(actor, MAY_ACT):
            message = (
                f"You are signed in as {actor.name} with a {actor.role.value} token, which may look at orders but "
                f"not act on them. Actions need a support, merchant or admin token."
            )
            return problem(request, actor, 403, "Looking only", message, back)
        svc = _svc(request)
        order = await _visible_order(svc, actor, merchant_id, order_id)
        if order is None:
            return problem(request, actor, 404, "No such order", f"no order {order_id!r} for merchant {merchant_id!r}")
        state, unavailable = await _journey_state(svc, merchant_id, order_id)
        if state is None:
            return problem(request, actor, 409, "The journey cannot act", f"Nothing was done: {unavailable}.", back)
        return actor, action, Context(order=order, state=state, svc=svc)

    @router.post("/orders/{merchant_id}/{order_id}/actions/{slug}/review", name="console_review")
    async def review(request: Request, merchant_id: str, order_id: str, slug: str) -> Response:
        ready = await acting(request, merchant_id, order_id, slug)
        if isinstance(ready, Response):
            return ready
        actor, action, ctx = ready
        form = await request.form()
        key = _text(form, "idempotency_key", 128) or new_key()
        back = _link(request, "console_order", merchant_id=merchant_id, order_id=order_id)
        try:
            proposal = PROPOSERS[action](form, ctx)
        except FormProblem as err:
            message = f"This {ACTION_WORDS[action].lower()} cannot be prepared: {err}. Go back and correct the form."
            return problem(request, actor, 422, "Please check the form", message, back)
        return page(
            request,
            "confirm.html",
            actor=actor,
            order=ctx.order,
            action=ACTION_WORDS[action],
            slug=slug,
            proposal=proposal,
            fields=json.dumps(proposal.fields),
            key=key,
            back=back,
        )

    @router.post("/orders/{merchant_id}/{order_id}/actions/{slug}", name="console_act")
    async def confirm(request: Request, merchant_id: str, order_id: str, slug: str) -> Response:
        ready = await acting(request, merchant_id, order_id, slug)
        if isinstance(ready, Response):
            return ready
        actor, action, ctx = ready
        form = await request.form()
        back = _link(request, "console_order", merchant_id=merchant_id, order_id=order_id)
        key = _text(form, "idempotency_key", 128)
        try:
            fields = json.loads(_text(form, "fields", 20000) or "null")
        except ValueError:
            fields = None
        if not key or not isinstance(fields, dict):
            message = "The confirmation form arrived incomplete, so nothing was done. Start again from the order."
            return problem(request, actor, 400, "Nothing done", message, back)
        if action in KEYED:
            fields["idempotency_key"] = key
        redirect = RedirectResponse(f"{back}#banner", status_code=303)
        try:
            done = await act_on_order(ctx.svc, actor, order_id, merchant_id, action, fields, key)
        except ApiError as err:
            log.info("console %s on %s/%s refused for %s: %s", action, merchant_id, order_id, actor.name, err.message)
            text = f"{ACTION_WORDS[action]} not done: {err.message}"
            _set_flash(redirect, request, "warn", text, f"{merchant_id}/{order_id}")
            return redirect
        text = outcome_words(action, done.result, ctx.order.currency)
        _set_flash(redirect, request, "ok", text, f"{merchant_id}/{order_id}")
        return redirect

    return router
