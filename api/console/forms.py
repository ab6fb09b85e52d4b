"""The action forms: a submitted form, read and checked, becomes a `Proposal`: the fields the journey's
Update will get and the sentence the confirmation page shows; a form that cannot be one raises
`FormProblem` saying what to fix."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import FormData

from api.action_catalog import ACTIONS
from api.console.views import item_rows
from api.console.words import CHANNEL_WORDS, DONE_WORDS, REASON_WORDS, TIMES, aware, customer_name, relative, utc
from api.services import Services
from domain import Channel, Order, RefundReason
from workflows import commands as act
from workflows.models import JourneyState
from workflows.support_rules import money


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


def form_text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise FormProblem(f"{name} is {len(text)} characters long; keep it to {limit}")
    return text


def _quantity(form: FormData, name: str, what: str) -> int:
    raw = form_text(form, name) or "0"
    try:
        qty = int(raw)
    except ValueError:
        raise FormProblem(f"the quantity of {what} must be a whole number, not {raw!r}") from None
    if qty < 0:
        raise FormProblem(f"the quantity of {what} cannot be negative ({qty})")
    return qty


def _with_note(form: FormData, proposal: Proposal) -> Proposal:
    note = form_text(form, "note")
    if note:
        proposal.fields["note"] = note
        proposal.details.append(f"Note kept on the order's record: “{note}”")
    return proposal


def propose_refund(form: FormData, ctx: Context) -> Proposal:
    order, state = ctx.order, ctx.state
    raw_reason = form_text(form, "reason")
    try:
        reason = RefundReason(raw_reason)
    except ValueError:
        choices = ", ".join(REASON_WORDS.values())
        raise FormProblem(f"choose a reason for the refund ({choices})") from None
    scope = form_text(form, "scope")
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
        raw = form_text(form, "amount")
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
        sku = form_text(form, f"xsku-{item.id}", 128)
        if not sku:
            raise FormProblem(f"give the replacement SKU for {item.name} ({item.id})")
        chosen.append({"item_id": item.id, "quantity": qty, "replacement_sku": sku})
    if not chosen:
        raise FormProblem("choose at least one item to exchange: set its quantity above 0 and its replacement SKU")
    swaps = ", ".join(
        f"{c['quantity']} {TIMES} {names[c['item_id']]} ({c['item_id']}) for SKU {c['replacement_sku']}" for c in chosen
    )
    reason = form_text(form, "reason", 500)
    sentence = f"Exchange {swaps} for {ctx.who}" + (f" — reason: {reason}" if reason else "")
    details = [
        "A return label is made for what goes back; the customer is sent it, and the replacement, once shipped, "
        "is tracked like any parcel."
    ]
    return _with_note(form, Proposal({"items": chosen, "reason": reason}, sentence, details))


def propose_cancel(form: FormData, ctx: Context) -> Proposal:
    reason = form_text(form, "reason", 500)
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
    raw = form_text(form, "until")
    fields: dict[str, Any] = {}
    warnings: list[str] = []
    if raw:
        try:
            until = aware(datetime.fromisoformat(raw))
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
    text = form_text(form, "text", 4000)
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
# the commands that carry their idempotency key in their fields
KEYED = frozenset(a.update for a in ACTIONS if a.keyed)


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
