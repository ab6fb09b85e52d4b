"""The payment activities with the real Stripe connector against the sandbox: what the journey sees when a
refund works, is refused for good, or hits an outage; that Temporal's retries refund once; that each merchant
acts with its own key (read from the variable its policy names) and finds only its own payments; and that a
refund whose answer was lost is found again by its key."""

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
from domain import PaymentLookup, PaymentRef, RefundInstruction, RefundReason, RefundReceipt
from sandbox import RunningSandbox

SANDBOX_KEY = "sk_test_sandbox"  # what a default SandboxState accepts: acme's account here
KEY_ENV = {"secret_key": "ACME_STRIPE_SECRET_KEY"}  # what acme's policy names (payments.credentials_env)
WORKER_ENV = {"ACME_STRIPE_SECRET_KEY": SANDBOX_KEY}


def payments(providers: dict[str, PaymentProvider], environ: dict[str, str] | None = None) -> PaymentActivities:
    return PaymentActivities(providers, WORKER_ENV if environ is None else environ)


@pytest.fixture
async def providers(sandbox: RunningSandbox) -> AsyncIterator[dict[str, PaymentProvider]]:
    built = build_payments(sandbox.stripe_base_url)  # as in the worker: no key but the merchant's, per call
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


def instruction(intent: str, amount: str, credentials_env: dict[str, str] | None = None) -> RefundInstruction:
    return RefundInstruction(
        idempotency_key=f"order-acme-1001:refund:{uuid.uuid4().hex[:8]}",
        merchant_id="acme",
        order_id="1001",
        payment=PaymentRef(reference=intent),
        credentials_env=KEY_ENV if credentials_env is None else credentials_env,
        amount=Decimal(amount),
        currency="EUR",
        reason=RefundReason.LATE,
        requested_by="support:ada",
    )


def refunds_of(sandbox: RunningSandbox, intent: str) -> list[dict]:
    return [r for r in sandbox.state.refunds.values() if r["payment_intent"] == intent]


async def test_a_refund_returns_stripes_receipt(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 2500)

    receipt = await ActivityEnvironment().run(payments(providers).issue_refund, instruction(intent, "25.00"))

    [made] = refunds_of(sandbox, intent)
    assert receipt.refund_id == made["id"] and receipt.amount == Decimal("25.00") and receipt.status == "succeeded"


async def test_a_refused_refund_is_not_retried_and_says_why(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 2000)

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(payments(providers).issue_refund, instruction(intent, "30.00"))

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
        await ActivityEnvironment().run(payments(providers).issue_refund, instruction(intent, "20.00"))

    assert caught.value.retryable is True and caught.value.status_code == 503
    assert refunds_of(sandbox, intent) == []


async def test_a_payment_at_a_provider_this_worker_lacks_is_not_retried():
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(payments({}).issue_refund, instruction("pi_123", "5.00"))

    assert caught.value.type == "UnknownPaymentProvider" and caught.value.non_retryable is True
    assert caught.value.message == "no payment provider 'stripe' in this worker to act on order 1001 (known: [])"


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
        activities=[payments(providers).issue_refund],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        receipt = await time_skipping_env.client.execute_workflow(
            RefundOnce.run, instruction(intent, "42.00"), id=f"refund-{uuid.uuid4()}", task_queue=queue
        )

    [made] = refunds_of(sandbox, intent)
    assert receipt.refund_id == made["id"] and receipt.amount == Decimal("42.00")
    assert sandbox.state.stripe_fail_next == []  # both failures were met on the way


def lookup(intent: str, key: str = "") -> PaymentLookup:
    return PaymentLookup(
        merchant_id="acme", order_id="1001", payment=PaymentRef(reference=intent), credentials_env=KEY_ENV,
        idempotency_key=key,
    )  # fmt: skip


async def test_a_payment_is_looked_up_in_the_merchants_own_account(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 4200)
    await ActivityEnvironment().run(payments(providers).issue_refund, instruction(intent, "10.00"))

    facts = await ActivityEnvironment().run(payments(providers).look_up_payment, lookup(intent))

    assert (facts.currency, facts.status, facts.captured, facts.refunded) == (
        "EUR", "succeeded", Decimal("42.00"), Decimal("10.00")
    )  # fmt: skip
    assert facts.refundable == Decimal("32.00")


async def test_another_merchants_payment_is_not_found_with_this_merchants_key(providers, sandbox, stripe_sandbox):
    """Merchant B's key does not open merchant A's PaymentIntent: refused for good, nothing refunded."""
    intent = await paid(stripe_sandbox, 4200)  # in acme's account
    sandbox.state.stripe_api_keys.add("sk_test_globex")
    globex = {"GLOBEX_STRIPE_SECRET_KEY": "sk_test_globex"}
    their_env = {"secret_key": "GLOBEX_STRIPE_SECRET_KEY"}
    theirs = lookup(intent).model_copy(update={"merchant_id": "globex", "credentials_env": their_env})

    with pytest.raises(ApplicationError) as looked:
        await ActivityEnvironment().run(payments(providers, globex).look_up_payment, theirs)
    with pytest.raises(ApplicationError) as refunded:
        refund = instruction(intent, "42.00", {"secret_key": "GLOBEX_STRIPE_SECRET_KEY"})
        await ActivityEnvironment().run(payments(providers, globex).issue_refund, refund)

    for caught in (looked, refunded):
        assert caught.value.type == "PaymentRefused" and caught.value.non_retryable is True
        assert caught.value.details[0] == {"code": "resource_missing", "status_code": 404}
        assert f"No such payment_intent: '{intent}'" in caught.value.message
    assert refunds_of(sandbox, intent) == []


async def test_without_the_merchants_key_nothing_is_asked_of_the_provider(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 2000)

    with pytest.raises(ApplicationError) as unnamed:
        await ActivityEnvironment().run(payments(providers).issue_refund, instruction(intent, "5.00", {}))
    with pytest.raises(ApplicationError) as unset:
        await ActivityEnvironment().run(payments(providers, {}).issue_refund, instruction(intent, "5.00"))

    assert unnamed.value.type == unset.value.type == "PaymentNotConfigured"
    assert "add payments.credentials_env (e.g. {secret_key: ACME_STRIPE_SECRET_KEY})" in unnamed.value.message
    assert unset.value.message == (
        "merchant acme's payment credentials are not set on the worker: ACME_STRIPE_SECRET_KEY "
        "(named by the policy's payments.credentials_env)"
    )
    assert refunds_of(sandbox, intent) == []


async def test_a_refund_whose_answer_was_lost_is_found_by_its_key(providers, sandbox, stripe_sandbox):
    intent = await paid(stripe_sandbox, 3000)
    await stripe_sandbox.post("/_sandbox/stripe/fail-next", json={"drop_after_commit": True})
    lost = instruction(intent, "12.00")
    with pytest.raises(PaymentError):
        await ActivityEnvironment().run(payments(providers).issue_refund, lost)

    found = await ActivityEnvironment().run(payments(providers).find_refund, lookup(intent, lost.idempotency_key))
    never = await ActivityEnvironment().run(payments(providers).find_refund, lookup(intent, "order-acme-1001:other"))

    [made] = refunds_of(sandbox, intent)
    assert made["metadata"]["aftercare_key"] == lost.idempotency_key
    assert found.receipt is not None and found.receipt.refund_id == made["id"]
    assert found.receipt.amount == Decimal("12.00")
    assert never.receipt is None and "has no refund" in never.detail
