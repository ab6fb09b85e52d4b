"""Support's actions on a running journey, on the real Temporal dev server (the time-skipping server does not
skip time while an Update waits): each action's result and each refusal, concurrent and repeated refunds,
a refund suppressing the review request, an exchange's replacement tracked as a second parcel, cancel before
and after shipment.

The worker runs in this process with the production activities for payments (Stripe connector), return labels
(EasyPost connector) and audit (a real SQLite store), talking to the sandbox's Stripe and EasyPost servers;
messages go to a recording stand-in so the test reads exactly what each customer was sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.audit import AuditActivities
from activities.payments import PaymentActivities
from activities.returns import ReturnActivities
from aftercare.histories import collect
from api.timeline import build_timeline
from api.updates import SUPPORT_UPDATES
from connectors.carriers import build_carriers
from connectors.payments import build_payments
from domain import Actor, Order, Role, Shipment, TrackingStatus, shipment_workflow_id
from policies.schema import Policy
from sandbox.runner import RunningSandbox, run_sandbox
from storage.repository import Store
from tests.e2e.waiting import eventually
from tests.recording import record_histories
from tests.workflows.harness import RecordingProvider, ScriptedCarrier, make_order, make_policy, scan
from worker import build_worker
from workflows import commands as act
from workflows.commands import ActionResult
from workflows.models import JourneyInput, JourneyOptions, JourneyState, Stage
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking

pytestmark = pytest.mark.devserver

T = TypeVar("T")
ALICE = Actor(name="alice", role=Role.SUPPORT)
BOB = Actor(name="bob", role=Role.SUPPORT)
STRIPE_KEY = "sk_test_sandbox"  # acme's own Stripe account in the sandbox
OTHER_KEY = "sk_test_globex"  # another merchant's account
KEY_ENV = "ACME_STRIPE_SECRET_KEY"  # what acme's policy names; the worker's environment holds the key
RETURNS_TO = {"name": "Acme Returns", "line1": "1 Dock St", "city": "Portland", "postal_code": "97201", "country": "US"}
CUSTOMER_ADDRESS = {"name": "Ada Lovelace", "line1": "12 Analytical Way", "city": "Austin", "country": "US"}


def policy(**sections: Any) -> Policy:
    """The harness policy plus what support needs: a return address, a bonus, and every support message."""
    steps = {
        "confirmation": {"channels": ["email"]},
        "shipped": {"channels": ["email"]},
        "delivered": {"channels": ["email"]},
        "follow_up": {"after": "3d", "channels": ["email"]},
        "review_request": {"after": "14d", "reminder_after": "7d", "channels": ["email"], "per": "item"},
        "refund_issued": {"channels": ["email", "sms"]},
        "exchange_created": {"channels": ["email"]},
        "cancelled": {"channels": ["email"]},
    }
    returns = {"window": "30d", "address": RETURNS_TO, "exchange_bonus": {"kind": "percent", "value": 10}}
    payments = {"provider": "stripe", "credentials_env": {"secret_key": KEY_ENV}}
    return make_policy(**({"steps": steps, "returns": returns, "payments": payments} | sections))


@dataclass
class Desk:
    """A support desk in front of journeys: starts orders, moves parcels, and sends Updates as an agent would."""

    env: WorkflowEnvironment
    sandbox: RunningSandbox
    store: Store
    provider: RecordingProvider
    task_queue: str

    async def pay(self, amount: Decimal, currency: str = "USD", key: str = STRIPE_KEY) -> str:
        """The merchant's checkout: a succeeded PaymentIntent in the sandbox's Stripe (acme's account by default)."""
        async with httpx.AsyncClient(base_url=self.sandbox.stripe_base_url, auth=_Bearer(key)) as stripe:
            response = await stripe.post(
                "/v1/payment_intents",
                data={"amount": str(int(amount * 100)), "currency": currency.lower(), "confirm": "true"},
            )
            response.raise_for_status()
            return str(response.json()["id"])

    async def refunds_at_stripe(self, payment_intent: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.sandbox.stripe_base_url, auth=_Bearer(STRIPE_KEY)) as stripe:
            response = await stripe.get("/v1/refunds", params={"payment_intent": payment_intent})
            response.raise_for_status()
            return list(response.json()["data"])

    async def start(
        self, order: Order, pol: Policy | None = None, **options: Any
    ) -> WorkflowHandle[OrderJourney, JourneyState]:
        pol = pol or policy()
        return await self.env.client.start_workflow(
            OrderJourney.run,
            JourneyInput(
                order=order,
                policy=pol,
                policy_hash=pol.content_hash(),
                options=JourneyOptions(**options),  # search attributes on, as in production
            ),
            id=order.workflow_id,
            task_queue=self.task_queue,
        )

    async def ship(self, order: Order, tracking: str, **fields: Any) -> None:
        shipment = Shipment(carrier="easypost", tracking_number=tracking, **fields)
        await self.env.client.get_workflow_handle(order.workflow_id).signal(OrderJourney.shipment_created, shipment)

    async def deliver(self, tracking: str) -> None:
        """The carrier's webhook for a delivery, once the parcel's tracking child is running."""
        child = self.env.client.get_workflow_handle(shipment_workflow_id("acme", "easypost", tracking))
        await eventually(lambda: child.describe(), f"tracking child for {tracking}")
        event = scan(tracking, TrackingStatus.DELIVERED, datetime.now(UTC))
        await child.signal(ShipmentTracking.tracking_update, [event])

    async def update(
        self, order: Order, action: str, command: act.Command, update_id: str | None = None
    ) -> ActionResult:
        handle = self.env.client.get_workflow_handle(order.workflow_id)
        return await handle.execute_update(SUPPORT_UPDATES[action], command, id=update_id)

    async def refused(self, order: Order, action: str, command: act.Command) -> tuple[int, str, str]:
        """(HTTP status, code, message) of an Update the journey refuses."""
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await self.update(order, action, command)
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError), cause
        assert cause.type == act.REFUSED
        details = cause.details[0]
        return details["status"], details["code"], cause.message

    async def state(self, order: Order) -> JourneyState:
        return await self.env.client.get_workflow_handle(order.workflow_id).query(OrderJourney.state)

    async def stage(self, order: Order, stage: Stage) -> JourneyState:
        async def reached() -> JourneyState:
            state = await self.state(order)
            assert state.stage is stage, state.stage
            return state

        return await eventually(reached, f"order {order.order_id} at stage {stage}")

    def sent(self, order: Order, step: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(channel, recipient, template context) of each `step` message this order's customer was sent."""
        return [
            (r.channel.value, r.recipient, r.context)
            for r in self.provider.of_step(step)
            if r.order_id == order.order_id
        ]

    async def sent_at_least(self, order: Order, step: str, count: int) -> list[tuple[str, str | None, dict[str, Any]]]:
        """`sent`, once `count` of them are out: a journey sends after its Update has answered the agent."""

        async def enough() -> list[tuple[str, str | None, dict[str, Any]]]:
            messages = self.sent(order, step)
            assert len(messages) >= count, f"{len(messages)} of {count} {step} messages sent"
            return messages

        return await eventually(enough, f"{count} {step} message(s) for {order.order_id}")


class _Bearer(httpx.Auth):
    def __init__(self, key: str) -> None:
        self.key = key

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = f"Bearer {self.key}"
        yield request


@pytest.fixture
async def desk(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Desk]:
    async with run_sandbox(http_port=0, smtp_port=0, webhook_url="http://127.0.0.1:9/unused") as sandbox:
        store = Store.open(f"sqlite:///{tmp_path / 'aftercare.db'}")
        store.upsert_merchant("acme", "Acme", None)
        provider = RecordingProvider()
        carriers = build_carriers(sandbox.easypost_base_url, "sandbox-key", "sandbox-secret")
        sandbox.state.stripe_api_keys.add(OTHER_KEY)
        payments = build_payments(sandbox.stripe_base_url)  # as the worker: no key but the merchant's, per call
        paying = PaymentActivities(payments, {KEY_ENV: STRIPE_KEY})
        activities = [
            provider.send_message,
            ScriptedCarrier().poll_carrier,
            paying.look_up_payment,
            paying.issue_refund,
            paying.find_refund,
            ReturnActivities(carriers).create_return_label,
            AuditActivities(store).record_action,
        ]
        task_queue = f"support-{uuid.uuid4().hex[:8]}"
        async with build_worker(dev_env.client, task_queue=task_queue, activities=activities):
            yield Desk(dev_env, sandbox, store, provider, task_queue)
        for client in payments.values():
            await client.aclose()
        store.close()


async def paid_order(desk: Desk, **overrides: Any) -> Order:
    """Two mugs at 20.00 and a lid at 14.00: 54.00 USD, paid through the sandbox's Stripe."""
    items = [
        {"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "20.00"},
        {"id": "li-2", "sku": "LID-1", "name": "Lid", "quantity": 1, "unit_price": "14.00"},
    ]
    payment = {"provider": "stripe", "reference": await desk.pay(Decimal("54.00"))}
    data = {"items": items, "payment": payment, "shipping_address": CUSTOMER_ADDRESS} | overrides
    return make_order(datetime.now(UTC), **data)


def refund(key: str, **fields: Any) -> act.RefundCommand:
    return act.RefundCommand(actor=ALICE, idempotency_key=key, **({"reason": "damaged"} | fields))


async def test_refund_items_then_amount_and_every_refusal(desk: Desk) -> None:
    order = await paid_order(desk)
    handle = await desk.start(order)

    mug = await desk.update(order, act.REFUND, refund("r1", items={"li-1": 1}, note="chipped rim"))
    assert mug.refund is not None and mug.refund.amount == Decimal("20.00") and mug.refund.items == {"li-1": 1}
    assert mug.refund.provider_refund_id.startswith("re_") and mug.refund.by == ALICE
    assert (mug.refunded_total, mug.refundable) == (Decimal("20.00"), Decimal("34.00"))

    goodwill = await desk.update(order, act.REFUND, refund("r2", amount=Decimal("4.50"), reason="goodwill"))
    assert goodwill.refundable == Decimal("29.50")

    refusals = [
        (refund("r3", amount=Decimal("30.00")), 409, "over_refund", "29.50 USD still refundable"),
        (refund("r4", items={"li-9": 1}), 422, "unknown_items", "'li-9' is not a line item"),
        (refund("r5", items={"li-1": 2}), 422, "quantity", "1 of 2 can still be refunded"),
        (refund("r6", reason=None), 422, "missing_reason", "a refund needs a reason"),
        (refund("r7", items={"li-2": 1}, amount=Decimal("1.00")), 422, "items_and_amount", "not both"),
    ]
    for command, status, code, words in refusals:
        got = await desk.refused(order, act.REFUND, command)
        assert got[:2] == (status, code) and words in got[2], got

    stripe = await desk.refunds_at_stripe(order.payment.reference)  # type: ignore[union-attr]
    assert sorted(r["amount"] for r in stripe) == [450, 2000]
    state = await desk.state(order)
    assert [r.amount for r in state.refunds] == [Decimal("20.00"), Decimal("4.50")]
    assert [(a.action, a.by.name) for a in state.actions] == [("refund", "alice"), ("refund", "alice")]
    # The customer heard about each refund, on every channel of the step, with the amount.
    told = await desk.sent_at_least(order, "refund_issued", 4)
    assert sorted((ch, ctx["refund"]["amount"]) for ch, _, ctx in told) == [
        ("email", "20.00"),
        ("email", "4.50"),
        ("sms", "20.00"),
        ("sms", "4.50"),
    ]
    # Refused requests never reached the journey's history: only the two refunds were accepted.
    history = await handle.fetch_history()
    accepted = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert len(accepted) == 2

    # Audited in the database: who, what, the result, the state before and after.
    async def audited() -> list[Any]:
        entries = desk.store.list_audit("acme", order.order_id)
        assert len(entries) == 2
        return entries

    entries = await eventually(audited, "two audit entries")
    assert [(e.actor.name, e.action, e.outcome) for e in entries] == [("alice", "refund", "done")] * 2
    assert (entries[0].before["refundable"], entries[0].after["refundable"]) == ("54.00", "34.00")
    assert entries[0].request["note"] == "chipped rim"


async def test_concurrent_refunds_never_exceed_what_was_paid(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    agents = [Actor(name=f"agent-{n}", role=Role.SUPPORT) for n in range(5)]
    attempts = [
        desk.update(
            order,
            act.REFUND,
            act.RefundCommand(actor=a, idempotency_key=f"c{n}", reason="late", amount=Decimal("20.00")),
        )
        for n, a in enumerate(agents)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    done = [o for o in outcomes if isinstance(o, ActionResult)]
    refused = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
    assert (len(done), len(refused)) == (2, 3), outcomes
    for err in refused:
        assert isinstance(err.cause, ApplicationError) and err.cause.details[0]["code"] == "over_refund"
    stripe = await desk.refunds_at_stripe(order.payment.reference)  # type: ignore[union-attr]
    assert sum(r["amount"] for r in stripe) == 4000
    assert (await desk.state(order)).refundable == Decimal("14.00")


async def test_the_same_idempotency_key_twice_is_one_refund(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    first = await desk.update(order, act.REFUND, refund("same", amount=Decimal("10.00")))
    # A different agent's client retrying under a new Update id, with the same key: the same answer.
    again = await desk.update(order, act.REFUND, refund("same", amount=Decimal("10.00")), update_id="retry-1")
    assert again.repeated and not first.repeated
    assert again.refund == first.refund
    status, code, message = await desk.refused(order, act.REFUND, refund("same", amount=Decimal("12.00")))
    assert (status, code) == (409, "idempotency_key_reused") and "use a new key" in message
    assert len(await desk.refunds_at_stripe(order.payment.reference)) == 1  # type: ignore[union-attr]
    assert len(await desk.sent_at_least(order, "refund_issued", 2)) == 2  # email + sms, once


async def test_refund_drops_the_refunded_item_from_reviews(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    await desk.ship(order, "EZ1000000001")
    await desk.deliver("EZ1000000001")
    before = await desk.stage(order, Stage.POST_DELIVERY)
    assert {p.what for p in before.planned} >= {"review_request (li-1)", "review_request (li-2)"}

    await desk.update(order, act.REFUND, refund("lid", items={"li-2": 1}, reason="not_as_described"))

    async def pruned() -> JourneyState:
        state = await desk.state(order)
        assert not any("li-2" in p.what for p in state.planned)
        return state

    state = await eventually(pruned, "the lid's review dropped")
    assert {p.what for p in state.planned} >= {"review_request (li-1)", "review_reminder (li-1)"}
    skipped = [(m.step.value, m.skip_reason, m.detail) for m in state.messages if m.status == "skipped"]
    assert ("review_request", "not_applicable", "item li-2 was refunded") in skipped
    assert ("review_reminder", "not_applicable", "item li-2 was refunded") in skipped
    await record_histories(desk.env.client, order.workflow_id, "refund")


async def test_exchange_makes_a_label_tracks_the_replacement_and_holds_the_review(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    swap = act.ExchangeCommand(
        actor=BOB, idempotency_key="x1", items=[act.ExchangeItem(item_id="li-1", replacement_sku="MUG-1-BLUE")]
    )
    status, code, _ = await desk.refused(order, act.EXCHANGE, swap)
    assert (status, code) == (409, "not_delivered")

    await desk.ship(order, "EZ2000000001")
    await desk.deliver("EZ2000000001")
    await desk.stage(order, Stage.POST_DELIVERY)
    result = await desk.update(order, act.EXCHANGE, swap)
    exchange = result.exchange
    assert exchange is not None and exchange.exchange_id == "EX1"
    assert exchange.bonus is not None and exchange.bonus.amount == Decimal("2.00")  # 10% of one 20.00 mug
    async with httpx.AsyncClient() as http:
        assert (await http.get(exchange.label.label_url)).status_code == 200  # the sandbox serves the label
    [(channel, recipient, context)] = await desk.sent_at_least(order, "exchange_created", 1)
    assert (channel, recipient) == ("email", order.customer.email)
    assert context["exchange"]["label_url"] == exchange.label.label_url
    assert context["exchange"]["bonus"] == "2.00 USD store credit"

    held = await desk.state(order)
    assert "review_request (li-1) (after the exchange's replacement arrives)" in {p.what for p in held.planned}

    await desk.ship(order, "EZ2000000002", exchange_id="EX1")
    await desk.deliver("EZ2000000002")

    async def replaced() -> JourneyState:
        state = await desk.state(order)
        assert state.exchanges[0].replacement_delivered_at is not None
        return state

    state = await eventually(replaced, "the replacement delivered")
    assert [(p.tracking_number, p.exchange_id, p.status) for p in state.parcels] == [
        ("EZ2000000001", None, TrackingStatus.DELIVERED),
        ("EZ2000000002", "EX1", TrackingStatus.DELIVERED),
    ]
    review = next(p for p in state.planned if p.what == "review_request (li-1)")
    delivered_again = state.exchanges[0].replacement_delivered_at
    assert delivered_again is not None and review.due_at >= delivered_again + timedelta(days=14)
    # The replacement's parcel told the customer like any other: shipped and delivered, twice in all.
    assert len(await desk.sent_at_least(order, "delivered", 2)) == 2
    await record_histories(desk.env.client, order.workflow_id, "exchange")


async def test_exchange_refused_after_the_return_window(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order, policy(returns={"window": "1s", "address": RETURNS_TO}))
    await desk.ship(order, "EZ3000000001")
    await desk.deliver("EZ3000000001")
    await desk.stage(order, Stage.POST_DELIVERY)
    await asyncio.sleep(1.5)
    swap = act.ExchangeCommand(
        actor=BOB, idempotency_key="late", items=[act.ExchangeItem(item_id="li-2", replacement_sku="LID-2")]
    )
    status, code, message = await desk.refused(order, act.EXCHANGE, swap)
    assert (status, code) == (409, "return_window_closed") and "offer a refund instead" in message


async def test_cancel_before_shipment_refunds_tells_the_customer_and_ends(desk: Desk) -> None:
    order = await paid_order(desk)
    handle = await desk.start(order)
    status, code, _ = await desk.refused(order, act.CANCEL, act.CancelCommand(actor=ALICE, reason="  "))
    assert (status, code) == (422, "missing_reason")

    result = await desk.update(order, act.CANCEL, act.CancelCommand(actor=ALICE, reason="customer changed their mind"))
    assert result.refund is not None and result.refund.amount == Decimal("54.00")
    final = await asyncio.wait_for(handle.result(), 20)
    assert final.stage is Stage.CANCELLED and final.cancel_reason == "customer changed their mind"
    assert final.refundable == Decimal("0.00")
    [(_, _, context)] = await desk.sent_at_least(order, "cancelled", 1)
    assert context["refund"] == {"amount": "54.00", "currency": "USD"}
    assert [r["amount"] for r in await desk.refunds_at_stripe(order.payment.reference)] == [5400]  # type: ignore[union-attr]


async def test_cancel_after_shipment_is_refused_with_a_pointer(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    await desk.ship(order, "EZ4000000001")
    await desk.stage(order, Stage.IN_TRANSIT)
    status, code, message = await desk.refused(order, act.CANCEL, act.CancelCommand(actor=ALICE, reason="too slow"))
    assert (status, code) == (409, "already_shipped")
    assert "EZ4000000001" in message and "issue a refund" in message
    assert await desk.refunds_at_stripe(order.payment.reference) == []  # type: ignore[union-attr]


async def test_pause_resume_opt_out_and_notes(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    await desk.ship(order, "EZ5000000001")
    await desk.stage(order, Stage.IN_TRANSIT)

    paused = await desk.update(order, act.PAUSE, act.PauseCommand(actor=ALICE, note="customer in hospital"))
    assert paused.summary == "messages paused until resumed"
    await desk.deliver("EZ5000000001")  # the tracking child hears of the pause too
    state = await desk.stage(order, Stage.POST_DELIVERY)
    assert ("delivered", "paused") in [(m.step.value, m.skip_reason) for m in state.messages]
    assert desk.sent(order, "delivered") == []

    resumed = await desk.update(order, act.RESUME, act.ResumeCommand(actor=ALICE))
    assert resumed.summary == "messages resumed"
    assert (await desk.refused(order, act.RESUME, act.ResumeCommand(actor=ALICE)))[:2] == (409, "not_paused")
    past = datetime.now(UTC) - timedelta(minutes=1)
    assert (await desk.refused(order, act.PAUSE, act.PauseCommand(actor=ALICE, until=past)))[:2] == (
        422,
        "until_in_past",
    )

    out = await desk.update(order, act.OPT_OUT, act.OptOutCommand(actor=BOB, channels=["sms"]))
    assert out.summary == "opted out of sms"
    again = await desk.refused(order, act.OPT_OUT, act.OptOutCommand(actor=BOB, channels=["sms"]))
    assert again[:2] == (409, "already_opted_out")
    await desk.update(order, act.REFUND, refund("after-opt-out", amount=Decimal("5.00")))

    async def told_by_email_only() -> None:
        assert [ch for ch, _, _ in desk.sent(order, "refund_issued")] == ["email"]

    await eventually(told_by_email_only, "the refund message")

    await desk.update(order, act.ADD_NOTE, act.NoteCommand(actor=BOB, text="Called back, all good.\nSecond line"))
    assert (await desk.refused(order, act.ADD_NOTE, act.NoteCommand(actor=BOB, text="   ")))[:2] == (422, "empty_note")
    state = await desk.state(order)
    assert [(n.text, n.by.name) for n in state.notes] == [("Called back, all good.\nSecond line", "bob")]
    assert [a.action for a in state.actions] == ["pause_messages", "resume_messages", "opt_out", "refund", "add_note"]
    assert state.preferences.opted_out == ["sms"] and not state.preferences.paused


async def test_the_timeline_shows_a_retried_message_with_its_attempts_and_error(desk: Desk) -> None:
    """On the real server, which records the last failure with the attempt that succeeded."""
    desk.provider.fail_first["confirmation"] = 2
    order = await paid_order(desk)
    await desk.start(order)
    await desk.sent_at_least(order, "confirmation", 1)
    runs = await collect(desk.env.client, order.workflow_id)
    timeline = await build_timeline(order.workflow_id, runs, desk.env.client.data_converter)
    [failure] = [e for e in timeline.entries if e.kind == "failure"]
    assert failure.summary == (
        "send_message needed 3 attempts; the last failure: RuntimeError: 451 mailbox busy, try again later (attempt 2)"
    )
    assert failure.detail["attempts"] == 3


async def test_a_payment_in_another_merchants_stripe_account_is_never_refunded(desk: Desk) -> None:
    """Merchant B's order pointing at merchant A's PaymentIntent: looked up with acme's own key, not found."""
    theirs = await desk.pay(Decimal("54.00"), key=OTHER_KEY)  # in another merchant's Stripe account
    order = make_order(datetime.now(UTC), payment={"provider": "stripe", "reference": theirs})
    await desk.start(order)

    for command in (refund("steal", amount=Decimal("10.00")), refund("steal-all")):
        status, code, message = await desk.refused(order, act.REFUND, command)
        assert (status, code) == (409, "payment_not_found")
        assert f"payment.reference {theirs}" in message and "nothing was refunded" in message
    cancel = await desk.refused(order, act.CANCEL, act.CancelCommand(actor=ALICE, reason="fraud check"))
    assert cancel[:2] == (409, "payment_not_found")

    async with httpx.AsyncClient(base_url=desk.sandbox.stripe_base_url, auth=_Bearer(OTHER_KEY)) as stripe:
        listed = (await stripe.get("/v1/refunds", params={"payment_intent": theirs})).json()
    assert listed["data"] == []  # nothing moved in the other account
    state = await desk.state(order)
    assert state.refunds == [] and state.refundable == Decimal("54.00") and state.cancelled_at is None


async def test_the_refundable_amount_is_the_smaller_of_ours_and_what_stripe_captured(desk: Desk) -> None:
    """An order declaring 54.00 on a payment of 30.00 refunds 30.00 at most; a refund made at Stripe directly
    counts too."""
    order = make_order(datetime.now(UTC), payment={"provider": "stripe", "reference": await desk.pay(Decimal("30"))})
    await desk.start(order)
    status, code, message = await desk.refused(order, act.REFUND, refund("big", amount=Decimal("40.00")))
    assert (status, code) == (409, "over_refund") and "30.00 USD still refundable" in message
    assert "the payment provider has 30.00 USD captured" in message
    async with httpx.AsyncClient(base_url=desk.sandbox.stripe_base_url, auth=_Bearer(STRIPE_KEY)) as stripe:
        direct = await stripe.post("/v1/refunds", data={"payment_intent": order.payment.reference, "amount": "500"})  # type: ignore[union-attr]
        assert direct.status_code == 200

    everything = await desk.update(order, act.REFUND, refund("all"))
    assert everything.refund is not None and everything.refund.amount == Decimal("25.00")
    status, code, message = await desk.refused(order, act.REFUND, refund("more", amount=Decimal("1.00")))
    assert (status, code) == (409, "fully_refunded") and "30.00 USD captured" in message
    assert sum(r["amount"] for r in await desk.refunds_at_stripe(order.payment.reference)) == 3000  # type: ignore[union-attr]


async def test_a_refund_whose_answer_is_lost_is_held_then_settled_before_the_next(desk: Desk) -> None:
    """Stripe refunds, then answers 500 past the deadline: the journey records the refund as unknown and holds
    its amount; the next refund first finds it at Stripe by our key, so the customer is never refunded twice."""
    order = await paid_order(desk)
    await desk.start(order, provider_deadline_seconds=3)
    stripe = desk.sandbox.state
    stripe.stripe_fail_next.extend(
        [{**_FAIL, "drop_after_commit": True}, {**_FAIL, "count": 50}]  # committed, then nothing but 500s
    )

    lost = await desk.update(order, act.REFUND, refund("lost", amount=Decimal("10.00")))
    assert lost.refund is not None and lost.refund.status == "unknown" and not lost.repeated
    assert "outcome unknown" in lost.summary and lost.refundable == Decimal("44.00")  # held
    assert len(await desk.refunds_at_stripe(order.payment.reference)) == 1  # type: ignore[union-attr]
    held = await desk.state(order)
    assert [(r.status, r.amount) for r in held.refunds] == [("unknown", Decimal("10.00"))]
    assert held.refundable == Decimal("44.00")

    stripe.stripe_fail_next.clear()  # Stripe answers again
    rest = await desk.update(order, act.REFUND, refund("rest"))
    assert rest.refund is not None and rest.refund.amount == Decimal("44.00")  # not 54.00: the first was found
    again = await desk.update(order, act.REFUND, refund("lost", amount=Decimal("10.00")))
    assert again.repeated and again.refund is not None and again.refund.status == "succeeded"
    assert again.summary == "refunded 10.00 USD (damaged)"

    at_stripe = await desk.refunds_at_stripe(order.payment.reference)  # type: ignore[union-attr]
    assert sorted(r["amount"] for r in at_stripe) == [1000, 4400]
    state = await desk.state(order)
    assert [r.status for r in state.refunds] == ["succeeded", "succeeded"]
    assert state.refunded_total == Decimal("54.00") == sum(Decimal(r["amount"]) / 100 for r in at_stripe)

    async def audited() -> list[tuple[str, str]]:
        entries = [(e.outcome, e.reason) for e in desk.store.list_audit("acme", order.order_id)]
        assert len(entries) == 3, entries
        return entries

    outcomes = await eventually(audited, "three audit rows")
    assert sorted(o for o, _ in outcomes) == ["done", "done", "unknown"]
    assert any(reason.startswith("settled: refunded 10.00 USD") for _, reason in outcomes)
    # The customer heard of each refund once it was certain: 10.00 after it was found, and 44.00.
    told = await desk.sent_at_least(order, "refund_issued", 4)
    assert sorted(ctx["refund"]["amount"] for ch, _, ctx in told if ch == "email") == ["10.00", "44.00"]


async def test_a_refund_that_never_reached_stripe_is_released_when_looked_up(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order, provider_deadline_seconds=3)
    desk.sandbox.state.stripe_fail_next.append({**_FAIL, "count": 50})  # 500 before acting, every time

    lost = await desk.update(order, act.REFUND, refund("never", amount=Decimal("54.00")))
    assert lost.refund is not None and lost.refund.status == "unknown"
    assert (await desk.state(order)).refundable == Decimal("0.00")  # all 54.00 held while unknown
    desk.sandbox.state.stripe_fail_next.clear()
    done = await desk.update(order, act.REFUND, refund("second", amount=Decimal("20.00")))
    assert done.refund is not None and done.refund.status == "succeeded"
    state = await desk.state(order)
    assert [(r.key, r.status) for r in state.refunds] == [("never", "not_made"), ("second", "succeeded")]
    assert "has no refund" in state.refunds[0].detail
    assert state.refundable == Decimal("34.00")
    assert [r["amount"] for r in await desk.refunds_at_stripe(order.payment.reference)] == [2000]  # type: ignore[union-attr]


async def test_idempotency_keys_are_per_person(desk: Desk) -> None:
    """Bob reusing Alice's key gets his own answer, never hers; Alice's key with another request is refused."""
    order = await paid_order(desk)
    await desk.start(order)
    alices = await desk.update(order, act.REFUND, refund("shared", amount=Decimal("10.00")))
    bobs = await desk.update(
        order, act.REFUND, act.RefundCommand(actor=BOB, idempotency_key="shared", reason="late", amount=Decimal("5"))
    )
    assert not bobs.repeated and bobs.refund is not None and bobs.refund.by == BOB
    assert bobs.refund.provider_refund_id != alices.refund.provider_refund_id  # type: ignore[union-attr]
    merchant = Actor(name="alice", role=Role.MERCHANT, merchant_id="acme")  # same name, another person
    theirs = await desk.update(
        order, act.REFUND, act.RefundCommand(actor=merchant, idempotency_key="shared", reason="damaged",
                                             amount=Decimal("10.00"))
    )  # fmt: skip
    assert not theirs.repeated and theirs.refund is not None and theirs.refund.by == merchant
    assert sorted(r["amount"] for r in await desk.refunds_at_stripe(order.payment.reference)) == [500, 1000, 1000]  # type: ignore[union-attr]


async def test_a_second_pause_is_refused_and_until_is_bounded(desk: Desk) -> None:
    order = await paid_order(desk)
    await desk.start(order)
    await desk.update(order, act.PAUSE, act.PauseCommand(actor=ALICE))
    status, code, message = await desk.refused(order, act.PAUSE, act.PauseCommand(actor=BOB))
    assert (status, code) == (409, "already_paused") and "resume them first" in message
    await desk.update(order, act.RESUME, act.ResumeCommand(actor=ALICE))
    far = datetime.now(UTC) + timedelta(days=400)
    status, code, message = await desk.refused(order, act.PAUSE, act.PauseCommand(actor=ALICE, until=far))
    assert (status, code) == (422, "until_too_far") and message.startswith(f"until {far.isoformat()}")
    # Two agents at once: both admitted, the second one refused by the handler once the first has paused.
    both = await asyncio.gather(
        desk.update(order, act.PAUSE, act.PauseCommand(actor=ALICE)),
        desk.update(order, act.PAUSE, act.PauseCommand(actor=BOB)),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in both) == ["ActionResult", "WorkflowUpdateFailedError"]
    assert [a.action for a in (await desk.state(order)).actions].count("pause_messages") == 2


_FAIL = {"status_code": 500, "type": None, "code": None, "message": None, "drop_after_commit": False,
         "delay_seconds": 0, "refund_status": None, "count": 1}  # fmt: skip
