"""Chaos on the dev server: three workers take one batch of journeys; two of them are SIGKILLed while messages
are going out and the Temporal server is stopped and started again once. Every journey still completes and no
customer gets any message twice, counted where the customer would see it: the SMTP sink (by Message-ID) and the
Twilio stand-in."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from connectors.messaging.smtp import message_id_for
from domain import Channel, MessageStatus, Step, journey_id
from storage import OutboxRow
from tests.e2e.conftest import E2E_POLICY, Stack, free_port, open_stack
from tests.e2e.devserver import DevServer
from tests.e2e.waiting import eventually
from workflows.models import JourneyState, Stage

pytestmark = pytest.mark.devserver

MERCHANT = "chaos"
ORDERS = 30


def edited(text: str, *changes: tuple[str, str]) -> str:
    """`text` with each (old, new) replaced; an `old` that is not there is an error, not a silent no-op."""
    for old, new in changes:
        assert old in text, f"the e2e policy no longer says {old!r}"
        text = text.replace(old, new)
    return text


# E2E_POLICY with email and SMS both and the post-delivery plan within seconds: a journey is done ~10 s after its
# parcel arrived.
CHAOS_POLICY = edited(
    E2E_POLICY,
    ("id: e2e", f"id: {MERCHANT}"),
    ("name: End-to-End Goods", "name: Chaos Goods"),
    ("confirmation: {channels: [email]}", "confirmation: {channels: [email, sms]}"),
    ("delivered: {channels: [email]}", "delivered: {channels: [email, sms]}"),
    ("follow_up: {after: 3s", "follow_up: {after: 2s"),
    ("review_request: {after: 5s, reminder_after: 3s", "review_request: {after: 3s, reminder_after: 2s"),
    ("window: 10s", "window: 8s"),
)
EXPECTED = {
    Channel.EMAIL: {Step.CONFIRMATION, Step.DELIVERED, Step.FOLLOW_UP, Step.REVIEW_REQUEST, Step.REVIEW_REMINDER},
    Channel.SMS: {Step.CONFIRMATION, Step.DELIVERED},
}
EMAILS = ORDERS * len(EXPECTED[Channel.EMAIL])


@dataclass(frozen=True)
class Customer:
    order_id: str
    email: str
    phone: str
    tracking: str


@pytest.fixture
async def dev_server(tmp_path: Path) -> AsyncIterator[DevServer]:
    server = DevServer.plan(tmp_path, free_port())
    await server.start()
    try:
        yield server
    finally:
        server.stop()


def order_payload(customer: Customer) -> dict[str, Any]:
    return {
        "merchant_id": MERCHANT,
        "order_id": customer.order_id,
        "placed_at": datetime.now(UTC).isoformat(),
        "currency": "USD",
        "total": "12.00",
        "customer": {
            "id": f"cust-{customer.order_id}",
            "first_name": "Ada",
            "email": customer.email,
            "phone": customer.phone,
            "marketing_consent": True,
        },
        "shipping_address": {"country": "US", "city": "Arlington"},
        "items": [{"id": "li-1", "sku": "SOAP-1", "name": "Olive soap", "quantity": 1, "unit_price": "12.00"}],
    }


async def place(stack: Stack, sandbox: httpx.AsyncClient, customer: Customer) -> None:
    """The carrier has the parcel at the door already; the store sends the order, then its shipment."""
    scan = {"status": "delivered", "status_detail": "arrived_at_destination", "deliver_webhook": False}
    (await sandbox.post(f"/_sandbox/easypost/trackers/{customer.tracking}/scan", json=scan)).raise_for_status()
    placed = await stack.api.post("/v1/orders", json=order_payload(customer))
    assert placed.status_code == 201, placed.text
    shipment = {"carrier": "easypost", "tracking_number": customer.tracking}
    shipped = await stack.api.post(f"/v1/orders/{customer.order_id}/shipments", json=shipment)
    assert shipped.status_code == 201, shipped.text


async def emails_reach(stack: Stack, count: int) -> None:
    async def reached() -> None:
        assert len(stack.sandbox.state.emails) >= count, f"{len(stack.sandbox.state.emails)} emails at the sink"

    await eventually(reached, f"{count} emails at the SMTP sink", timeout=90)


@pytest.mark.timeout(420)  # ~90 s on an idle 2-core machine; a loaded one runs it several times slower
async def test_killed_workers_and_a_restarted_server_lose_no_journey_and_send_nothing_twice(
    dev_server: DevServer, tmp_path: Path
) -> None:
    began = time.monotonic()
    client = await dev_server.client()
    env = WorkflowEnvironment.from_client(client)
    async with open_stack(env, tmp_path, policy=CHAOS_POLICY, workers=3) as stack:
        run = uuid.uuid4().hex[:6]
        customers = [
            Customer(f"CH-{run}-{n:03d}", f"chaos-{n}@example.com", f"+1555600{n:04d}", f"EZCH{run.upper()}{n:04d}")
            for n in range(ORDERS)
        ]
        stores = asyncio.Semaphore(8)  # a few stores' webhooks at a time, not all at once

        async def placed_by_a_store(customer: Customer) -> None:
            async with stores:
                await place(stack, sandbox, customer)

        async with httpx.AsyncClient(base_url=stack.sandbox.http_url, timeout=30) as sandbox:
            await asyncio.gather(*(placed_by_a_store(c) for c in customers))
        placed = time.monotonic()

        # The chaos, each blow landing while messages are going out (the sink is still filling) and close together:
        # a killed worker's sends are retried only when their start-to-close timeout (60 s) runs out.
        first, second, survivor = stack.workers
        timeline = [f"placed {placed - began:.0f}s"]
        await emails_reach(stack, EMAILS // 10)
        first.kill()
        timeline.append(f"worker-1 killed at {len(stack.sandbox.state.emails)} emails {time.monotonic() - began:.0f}s")
        await emails_reach(stack, EMAILS // 6)
        dev_server.stop()
        await dev_server.start()
        timeline.append(f"Temporal restarted {time.monotonic() - began:.0f}s")
        await emails_reach(stack, EMAILS // 4)
        second.kill()
        timeline.append(f"worker-2 killed at {len(stack.sandbox.state.emails)} emails {time.monotonic() - began:.0f}s")

        async def result(c: Customer) -> JourneyState:
            handle = client.get_workflow_handle(journey_id(MERCHANT, c.order_id), result_type=JourneyState)
            return await handle.result()

        waiting = [asyncio.create_task(result(c)) for c in customers]
        await asyncio.wait(waiting, timeout=180)
        finals = [final_of(task) for task in waiting]
        timeline.append(f"all complete {time.monotonic() - began:.0f}s")
        problems = check_deliveries(stack, customers, finals)
        print(
            f"\nchaos: {ORDERS} journeys, {len(stack.sandbox.state.emails)} emails, {len(stack.sandbox.state.texts)}"
            f" texts; {', '.join(timeline)}; {interrupted_summary(stack, customers)}"
        )
        # the one worker left (it lived through the server's restart) finished every journey
        assert survivor.process is not None and survivor.process.poll() is None, "the surviving worker exited"
        assert not problems, "\n".join(problems)


def outbox(stack: Stack, customers: Iterable[Customer]) -> dict[str, list[OutboxRow]]:
    return {c.order_id: stack.store.list_messages(MERCHANT, c.order_id) for c in customers}


def interrupted_summary(stack: Stack, customers: list[Customer]) -> str:
    """How many sends the chaos interrupted: rows that took more than one attempt, and how each was settled."""
    rows = [r for rs in outbox(stack, customers).values() for r in rs]
    settled = Counter(r.detail.split(":")[0] or "sent by the retry" for r in rows if r.attempts > 1)
    settled.update(r.detail.split(":")[0] for r in rows if r.attempts == 1 and r.detail.startswith("unconfirmed"))
    arrived = {e.message_id for e in stack.sandbox.state.emails}
    lost = [
        r.idempotency_key
        for r in rows
        if r.channel is Channel.EMAIL and r.detail.startswith("unconfirmed")
        if message_id_for(r.idempotency_key) not in arrived
    ]
    return f"interrupted sends settled as: {dict(settled) or 'none'}; sent-unconfirmed emails not at the sink: {lost}"


def final_of(task: asyncio.Task[JourneyState]) -> JourneyState | str:
    """A journey's final state, or what became of it instead (still running, failed)."""
    if not task.done():
        task.cancel()
        return "journey still running 180 s after the chaos"
    if (error := task.exception()) is not None:
        return f"journey failed: {error!r}"
    return task.result()


def check_deliveries(stack: Stack, customers: list[Customer], finals: list[JourneyState | str]) -> list[str]:
    """Everything a customer would notice, per order: a journey not completed, a message missing or sent twice.
    Emails are matched to outbox rows by Message-ID (ours, from the idempotency key), texts by Twilio's sid."""
    problems: list[str] = []
    rows_by_order = outbox(stack, customers)
    emails = list(stack.sandbox.state.emails)
    texts = list(stack.sandbox.state.texts)
    by_message_id = Counter(e.message_id for e in emails)
    by_sid = Counter(str(t["sid"]) for t in texts)
    steps_of = {message_id_for(r.idempotency_key): r.step for rows in rows_by_order.values() for r in rows}
    for customer, final in zip(customers, finals, strict=True):
        order = customer.order_id
        if isinstance(final, str):
            problems.append(f"{order}: {final}")
            continue
        if final.stage is not Stage.COMPLETED:
            problems.append(f"{order}: journey ended in {final.stage.value}, not completed")
        recorded = Counter((m.channel, m.step) for m in final.messages if m.status is MessageStatus.SENT)
        for channel, steps in EXPECTED.items():
            problems += [
                f"{order}: the journey recorded {step.value} by {channel.value} sent {recorded[(channel, step)]} times"
                for step in steps
                if recorded[(channel, step)] != 1
            ]
        # a row recorded sent-unconfirmed (killed after handing it over, before the answer) may be missing; no other
        missing_allowed = {Channel.EMAIL: 0, Channel.SMS: 0}
        for row in rows_by_order[order]:
            unconfirmed = row.detail.startswith("unconfirmed")
            if row.channel is Channel.EMAIL:
                mid = message_id_for(row.idempotency_key)
                arrived = by_message_id[mid]
                missing_allowed[Channel.EMAIL] += unconfirmed and arrived == 0
                if arrived > 1 or (not unconfirmed and arrived != 1):
                    problems.append(f"{order}: {row.step.value} email {mid} arrived {arrived} times ({row.detail!r})")
            elif row.provider_message_id:
                if by_sid[row.provider_message_id] != 1:
                    problems.append(f"{order}: {row.step.value} text {row.provider_message_id} is not at Twilio")
            else:
                missing_allowed[Channel.SMS] += unconfirmed
        inbox = [e.message_id for e in emails if customer.email in e.rcpt_tos]
        problems += per_recipient(order, "email", inbox, [steps_of.get(m) for m in inbox], missing_allowed)
        phone = [t for t in texts if t["to"] == customer.phone]
        problems += per_recipient(order, "text", [str(t["body"]) for t in phone], None, missing_allowed)
    strays = [m for m in by_message_id if m not in steps_of]
    if strays:
        problems.append(f"emails no outbox row accounts for: {strays}")
    return problems


def per_recipient(
    order: str, what: str, received: list[str], steps: list[Step | None] | None, missing_allowed: dict[Channel, int]
) -> list[str]:
    """One customer's inbox: each message once (emails by Message-ID and step, texts by body), and as many as
    planned (less those recorded sent-unconfirmed that never arrived)."""
    channel = Channel.EMAIL if what == "email" else Channel.SMS
    planned = len(EXPECTED[channel])
    twice = [m for m, n in Counter(received).items() if n > 1]
    twice += [s.value for s, n in Counter(steps or []).items() if n > 1 and s is not None]
    out = [f"{order}: {what} received more than once: {twice}"] if twice else []
    if not planned - missing_allowed[channel] <= len(received) <= planned:
        out.append(f"{order}: {len(received)} {what}s received, {planned} planned")
    return out
