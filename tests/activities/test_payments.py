"""`issue_refund` with the real Stripe connector against the sandbox: what the journey sees when a refund
works, is refused for good, or hits an outage, and that Temporal's retries refund once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.payments import PaymentActivities
from connectors.payments import build_payments
from connectors.payments.base import PaymentError, PaymentProvider
from domain import PaymentRef, RefundInstruction, RefundReason, RefundReceipt
from sandbox import RunningSandbox

SANDBOX_KEY = "sk_test_sandbox"  # what a default SandboxState accepts


@pytest.fixture
async def providers(sandbox: RunningSandbox) -> AsyncIterator[dict[str, PaymentProvider]]:
    built = build_payments(sandbox.stripe_base_url, SANDBOX_KEY)
    yield built
    for provider in built.values():
        await provider.aclose()


@pytest.fixture
async def stripe_sandbox(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's Stripe and its controls, starting with no failure queued."""
    sandbox.state.stripe_fail_next.clear()
    async with httpx.AsyncClient(base_url=sandbox.http_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c:
        yield c


async def paid(stripe_sandbox: httpx.AsyncClient, amount: int) -> str:
    form = {"amount": str(amount), "currency": "eur", "confirm": "true"}
    return (await stripe_sandbox.post("/stripe/v1/payment_intents", data=form)).json()["id"]


def instruction(intent: str, amount: str) -> RefundInstruction:
    return RefundInstruction(
        idempotency_key=f"order-acme-1001:refund:{uuid.uuid4().hex[:8]}",
        merchant_id="acme",
        order_id="1001",
        payment=PaymentRef(reference=intent),
        amount=Decimal(amount),
        currency="EUR",
        reason=RefundReason.LATE,
        requested_by="support:ada",
    )


def refunds_of(sandbox: RunningSandbox, intent: str) -> list[dict]:
    return [r for r in sandbox.state.refunds.values() if r["payment_intent"] == intent]


async def test_a_refund_returns_stripes_receipt(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 2500)

    receipt = await ActivityEnvironment().run(PaymentActivities(providers).issue_refund, instruction(intent, "25.00"))

    [made] = refunds_of(sandbox, intent)
    assert receipt.refund_id == made["id"] and receipt.amount == Decimal("25.00") and receipt.status == "succeeded"


async def test_a_refused_refund_is_not_retried_and_says_why(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 2000)

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(PaymentActivities(providers).issue_refund, instruction(intent, "30.00"))

    assert caught.value.type == "PaymentRefused" and caught.value.non_retryable is True
    assert caught.value.message == (
        f"Stripe refused the refund of 30.00 EUR on {intent}: amount_too_large — "
        "Refund amount (€30.00) is greater than unrefunded amount on charge (€20.00)"
    )
    assert caught.value.details == ({"code": "amount_too_large", "status_code": 400},)


async def test_an_outage_is_raised_for_temporal_to_retry(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 2000)
    await stripe_sandbox.post("/_sandbox/stripe/fail-next", json={"status_code": 503})

    with pytest.raises(PaymentError) as caught:
        await ActivityEnvironment().run(PaymentActivities(providers).issue_refund, instruction(intent, "20.00"))

    assert caught.value.retryable is True and caught.value.status_code == 503
    assert refunds_of(sandbox, intent) == []


async def test_a_payment_at_a_provider_this_worker_lacks_is_not_retried():
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(PaymentActivities({}).issue_refund, instruction("pi_123", "5.00"))

    assert caught.value.type == "UnknownPaymentProvider" and caught.value.non_retryable is True
    assert caught.value.message == "no payment provider 'stripe' in this worker to refund order 1001 (known: [])"


@workflow.defn(sandboxed=False)
class RefundOnce:
    @workflow.run
    async def run(self, instruction: RefundInstruction) -> RefundReceipt:
        return await workflow.execute_activity(
            "issue_refund",
            instruction,
            result_type=RefundReceipt,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=5),
        )


async def test_temporal_retries_after_a_lost_answer_and_the_customer_is_refunded_once(
    time_skipping_env: WorkflowEnvironment, providers, sandbox, stripe_sandbox
):
    intent = await paid(stripe_sandbox, 4200)
    # Stripe refunds, then the answer is lost; the next attempt hits a rate limit; the third gets through
    await stripe_sandbox.post("/_sandbox/stripe/fail-next", json={"drop_after_commit": True})
    await stripe_sandbox.post("/_sandbox/stripe/fail-next", json={"status_code": 429})
    queue = f"payments-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[RefundOnce],
        activities=[PaymentActivities(providers).issue_refund],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        receipt = await time_skipping_env.client.execute_workflow(
            RefundOnce.run, instruction(intent, "42.00"), id=f"refund-{uuid.uuid4()}", task_queue=queue
        )

    [made] = refunds_of(sandbox, intent)
    assert receipt.refund_id == made["id"] and receipt.amount == Decimal("42.00")
    assert sandbox.state.stripe_fail_next == []  # both failures were met on the way
