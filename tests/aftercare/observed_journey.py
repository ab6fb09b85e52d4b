"""A real journey on a worker built as production builds it (`aftercare.temporal_client.connect` with a metrics
address, `worker.build_worker`, the real `send_message` against a recording sender), for the observability tests."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.messaging import MessagingActivities
from activities.templates import TemplateRenderer
from aftercare.settings import load_settings
from aftercare.temporal_client import connect
from domain import Channel, Order
from storage import Store
from tests.activities.conftest import TEMPLATES, FakeSender
from tests.conftest import TEST_CODEC_KEYS
from tests.e2e.waiting import eventually
from tests.workflows.harness import make_order, make_policy
from worker import build_worker
from workflows.models import JourneyInput, JourneyOptions
from workflows.order_journey import OrderJourney

EMAIL = "ada.lovelace@analytical-engine.example"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ObservedJourney:
    client: Client
    order: Order
    handle: WorkflowHandle[Any, Any]
    email: FakeSender
    metrics_url: str | None


@asynccontextmanager
async def observed_journey(
    env: WorkflowEnvironment,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    metrics: bool = False,
) -> AsyncIterator[ObservedJourney]:
    """Connect as the worker does, start a journey and wait until its confirmation email went out."""
    port = free_port()
    monkeypatch.setenv("AFTERCARE_TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    monkeypatch.setenv("AFTERCARE_CODEC_KEYS", TEST_CODEC_KEYS)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERCARE_WORKER_METRICS_ADDRESS", f"127.0.0.1:{port}" if metrics else "")
    client = await connect(load_settings(), component="worker", give_up_after=5)
    email = FakeSender(Channel.EMAIL)
    messaging = MessagingActivities(store, {Channel.EMAIL: email}, TemplateRenderer(TEMPLATES))
    queue = f"observed-{uuid.uuid4().hex[:8]}"
    order = make_order((await env.get_current_time()).astimezone(UTC), customer={"email": EMAIL})
    policy = make_policy()
    async with build_worker(client, task_queue=queue, activities=[messaging.send_message]):
        handle = await client.start_workflow(
            OrderJourney.run,
            JourneyInput(
                order=order,
                policy=policy,
                policy_hash=policy.content_hash(),
                options=JourneyOptions(search_attributes=False),
            ),
            id=order.workflow_id,
            task_queue=queue,
        )

        async def confirmation_sent() -> None:
            assert email.delivered, "no email delivered yet"

        try:
            await eventually(confirmation_sent, "the confirmation email")
            yield ObservedJourney(client, order, handle, email, f"http://127.0.0.1:{port}/metrics" if metrics else None)
        finally:
            await handle.terminate(reason="test over")
