"""The floor: the work of one bench order with nothing of ours around it.

`BenchFloor` sends the same messages through the same `send_message` stand-in and waits the same durations
as durable timers: no child, no signals, no state, no search attributes; what Temporal itself needs at the
least. The driver (bench/journeys.py) runs it after the journeys and compares the two.

The workflow sandbox re-imports a workflow's module for every run, so this one holds the floor and what
starts it, nothing else: the rest comes through the sandbox as it is (`imports_passed_through`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain import Channel, MessageOutcome, MessageRequest, Step

    from journey_standins import MERCHANT

if TYPE_CHECKING:
    from temporalio.client import Client

    from journey_standins import Schedule

FLOOR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0)


@workflow.defn(name="BenchFloor")
class BenchFloor:
    """One workflow, the same `send_message` calls and the same waits, no child, no signals, no state."""

    @workflow.run
    async def run(self, order_id: str, email: str, waits: list[tuple[str | None, int]]) -> int:
        sent = 0
        for step, wait in waits:
            if wait:
                await workflow.sleep(wait)
            if step is None:
                continue
            await workflow.execute_activity(
                "send_message",
                MessageRequest(
                    idempotency_key=f"{order_id}:{step}",
                    merchant_id=MERCHANT,
                    order_id=order_id,
                    customer_id=order_id,
                    step=Step(step),
                    channel=Channel.EMAIL,
                    recipient=email,
                    locale="en",
                    requested_at=workflow.now(),
                    policy_hash="floor",
                ),
                result_type=MessageOutcome,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=FLOOR_RETRY,
            )
            sent += 1
        return sent


def floor_driver(client: Client, task_queue: str, run: str, s: Schedule) -> Callable[[int], Awaitable[str]]:
    async def one(i: int) -> str:
        workflow_id = f"floor-{run}-{i:05d}"
        sent = await client.execute_workflow(
            BenchFloor.run,
            args=[workflow_id, f"ada{i}@example.com", s.floor_waits()],
            id=workflow_id,
            task_queue=task_queue,
        )
        if sent != s.messages:
            raise RuntimeError(f"{workflow_id} sent {sent}")
        return workflow_id

    return one
