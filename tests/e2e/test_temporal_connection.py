"""The one connection factory on the dev server the suite runs, without TLS: it reaches the address and namespace
the settings name, as the component it says it is, and what it sends is encrypted by the production codec."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from aftercare.settings import Settings
from aftercare.temporal_client import connect
from tests.conftest import TEST_CODEC_KEYS

pytestmark = pytest.mark.devserver


async def test_the_factory_reaches_the_dev_server_and_speaks_the_production_codec(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    for name in ("AFTERCARE_TEMPORAL_TLS", "AFTERCARE_TEMPORAL_API_KEY", "AFTERCARE_TEMPORAL_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFTERCARE_TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("AFTERCARE_NAMESPACE", dev_env.client.namespace)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERCARE_CODEC_KEYS", TEST_CODEC_KEYS)
    client = await connect(Settings(), component="cli", give_up_after=10)

    secret = f"customer-{uuid.uuid4()}@example.com"
    handle = await client.start_workflow(
        "NobodyRunsThis", secret, id=f"conn-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}"
    )
    try:
        # a plain client (no codec) reading the same history: our start, under our name, sealed
        plain = await Client.connect(address, namespace=dev_env.client.namespace)
        history = await plain.get_workflow_handle(handle.id).fetch_history()
        started = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        attributes = started.workflow_execution_started_event_attributes
        assert attributes.identity.startswith("aftercare-cli@")
        [stored] = attributes.input.payloads
        assert secret.encode() not in stored.data
        assert stored.metadata["encoding"] == b"binary/encrypted"
        # and the factory's own client reads it back
        assert await client.data_converter.decode([stored], [str]) == [secret]
    finally:
        await handle.terminate()
