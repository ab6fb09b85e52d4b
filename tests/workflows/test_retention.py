"""`RetentionPrune`, the workflow the daily schedule starts: it runs the prune with the worker's retention and
returns what went, and a second run finds nothing left."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from activities.retention import RetentionActivities
from storage import Store
from storage.base import ORDERS
from storage.types import utcnow
from tests.storage.conftest import make_order
from worker import build_worker
from workflows.retention import RetentionPrune


async def test_the_prune_workflow_prunes_with_the_workers_retention(
    time_skipping_env: WorkflowEnvironment, store: Store
) -> None:
    store.record_order(make_order("1001"), {"raw": "old"})
    store.record_order(make_order("1002"), {"raw": "recent"})
    with store.engine.begin() as conn:
        conn.execute(
            ORDERS.update().where(ORDERS.c.order_id == "1001").values(created_at=utcnow() - timedelta(days=40))
        )
    task_queue = f"retention-{uuid.uuid4().hex[:8]}"
    activities = RetentionActivities(store, retention_days=30)
    async with build_worker(time_skipping_env.client, task_queue=task_queue, activities=[activities.prune_expired]):
        first = await time_skipping_env.client.execute_workflow(
            RetentionPrune.run, id=f"prune-{uuid.uuid4()}", task_queue=task_queue
        )
        second = await time_skipping_env.client.execute_workflow(
            RetentionPrune.run, id=f"prune-{uuid.uuid4()}", task_queue=task_queue
        )

    assert first["orders.raw_payload"] == 1 and set(second.values()) == {0}
    assert store.get_raw_order("acme", "1001") == {} and store.get_raw_order("acme", "1002") == {"raw": "recent"}
