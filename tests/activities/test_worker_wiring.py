"""The activities as a worker runs them: registered as bound methods, called by name through Temporal
with the pydantic data converter, errors typed as the workflow will see them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.messaging import MessagingActivities
from activities.tracking import TrackingActivities
from connectors.carriers.base import CarrierError
from connectors.messaging.base import MessagingError
from domain import Channel, MessageOutcome, MessageRequest, PollRequest, PollResult
from storage import Store
from tests.activity_workers import execute, running_worker

FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=5)


def _as_seen(err: ActivityError, *, with_message: bool = False) -> dict[str, Any]:
    """An activity's failure as a workflow sees it: the application error's type and retryability."""
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    seen: dict[str, Any] = {"error": cause.type, "non_retryable": cause.non_retryable}
    return seen | {"message": cause.message} if with_message else seen


@workflow.defn(sandboxed=False)
class SendTwice:
    """Sends the same request twice, as a replayed or retried journey would."""

    @workflow.run
    async def run(self, req: MessageRequest) -> list[MessageOutcome]:
        return [await execute("send_message", req, MessageOutcome, FAST_RETRY) for _ in range(2)]


@workflow.defn(sandboxed=False)
class PollOnce:
    @workflow.run
    async def run(self, req: PollRequest) -> dict[str, Any]:
        try:
            result = await execute("poll_carrier", req, PollResult, FAST_RETRY)
        except ActivityError as err:
            return _as_seen(err)
        return {"events": len(result.events)}


@workflow.defn(sandboxed=False)
class SendOnce:
    """Sends one request and reports the error as the journey's messenger would see it."""

    @workflow.run
    async def run(self, req: MessageRequest) -> dict[str, Any]:
        try:
            await execute("send_message", req, MessageOutcome, FAST_RETRY)
        except ActivityError as err:
            return _as_seen(err, with_message=True)
        return {}


class _RejectingCarrier:
    name = "ups"

    async def track(self, tracking_number: str) -> PollResult:
        raise CarrierError(f"unknown tracking number {tracking_number}", retryable=False, status_code=404)

    def parse_webhook(self, body: bytes, headers: Any) -> list[Any]:
        return []


async def test_send_message_through_a_worker_retries_then_sends_once(
    time_skipping_env: WorkflowEnvironment,
    store: Store,
    senders: dict,
    messaging: MessagingActivities,
    make_request: Any,
) -> None:
    senders[Channel.EMAIL].script.append(MessagingError("451 greylisted", retryable=True))
    tracking = TrackingActivities(store, {"ups": _RejectingCarrier()})
    async with running_worker(
        time_skipping_env, "activities", [SendTwice, PollOnce], [messaging.send_message, tracking.poll_carrier]
    ) as queue:
        outcomes = await time_skipping_env.client.execute_workflow(
            SendTwice.run, make_request(), id=f"send-{uuid.uuid4()}", task_queue=queue
        )
        polled = await time_skipping_env.client.execute_workflow(
            PollOnce.run,
            PollRequest(carrier="ups", tracking_number="1Z0001"),
            id=f"poll-{uuid.uuid4()}",
            task_queue=queue,
        )

    assert outcomes[0] == outcomes[1] and outcomes[0].status == "sent"
    assert len(senders[Channel.EMAIL].calls) == 2  # the greylisted attempt and the one that went out
    assert len(senders[Channel.EMAIL].delivered) == 1
    assert polled == {"error": "CarrierRejected", "non_retryable": True}


async def test_a_provider_configuration_error_reaches_the_workflow_at_once(
    time_skipping_env: WorkflowEnvironment, senders: dict, messaging: MessagingActivities, make_request: Any
) -> None:
    senders[Channel.EMAIL].script.append(MessagingError("rejected the login for 'acme': 535", retryable=False))
    async with running_worker(time_skipping_env, "activities", [SendOnce], [messaging.send_message]) as queue:
        seen = await time_skipping_env.client.execute_workflow(
            SendOnce.run, make_request(), id=f"send-{uuid.uuid4()}", task_queue=queue
        )

    assert seen["error"] == "ProviderConfigurationError" and seen["non_retryable"] is True
    assert seen["message"].startswith("FakeProvider cannot send email messages") and "535" in seen["message"]
    assert len(senders[Channel.EMAIL].calls) == 1  # not retried: retrying cannot fix a wrong password
