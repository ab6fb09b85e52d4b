"""The embedded stack for end-to-end tests: real dev server, sandbox servers, the API over HTTP, and the
worker as its own process (so a test can kill it), all on free loopback ports."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from aftercare.runtime import build_carriers
from aftercare.settings import REPO_ROOT, Settings
from aftercare.temporal_client import client_identity, client_interceptors
from api.app import create_app
from api.services import Services
from connectors.messaging.callbacks import CallbackSecrets, build_callbacks
from domain import Role
from policies.loader import load_policy_text
from sandbox.runner import RunningSandbox, run_sandbox
from storage.repository import Store
from tests.conftest import CONVERTER, TEST_CODEC_KEYS, venv_binary
from workflows.models import SEARCH_ATTRIBUTE_KEYS

E2E_POLICY = """
version: 1
merchant:
  id: e2e
  name: End-to-End Goods
  timezone: UTC
  links: {review: "http://shop.test/review/{order_id}"}
channels:
  email: {provider: smtp, sender: "Goods <orders@goods.test>"}
  sms: {provider: twilio, sender: "+15555550000"}
defaults:
  quiet_hours: {}
  business_days: [mon, tue, wed, thu, fri, sat, sun]
  caps: {}        # caps are tested on their own; here timers may bunch up after a worker restart
steps:
  confirmation: {channels: [email]}
  shipped: {channels: [email]}
  status_update: {channels: [sms], statuses: [out_for_delivery]}
  delay_alert: {channels: [email]}
  delivered: {channels: [email]}
  follow_up: {after: 3s, channels: [email]}
  review_request: {after: 5s, reminder_after: 3s, channels: [email]}
  reorder_reminder: {channels: [email]}
delays:
  fulfillment_ladder: [10m]
  pickup_sla: 10m
  stalled_after: 10m
tracking: {poll_every: 5m, poll_max_interval: 10m}
payments: {provider: stripe, credentials_env: {secret_key: E2E_STRIPE_SECRET_KEY}}
returns:          # short, so delivered journeys complete within a test; the exchange tests set their own
  window: 10s
  address: {name: E2E Returns, line1: 1 Dock Street, city: Portland, postal_code: "97201", country: US}
"""


# SendGrid's signing key for the stack's delivery callbacks: tests sign events with it, the API checks them with
# its public half, as configured from AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY in production.
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC_KEY = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER,
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class WorkerProcess:
    """`python -m worker` with the stack's environment: the real production wiring, killable."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    runs: int = field(default=0)

    def start(self) -> None:
        self.runs += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker"], env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
            )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, the way a crashed machine goes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


WEB_UI = "http://127.0.0.1:8233"  # the origin the codec endpoint answers CORS for in these tests


@dataclass
class Stack:
    api: httpx.AsyncClient
    sandbox: RunningSandbox
    store: Store
    workers: list[WorkerProcess]
    env: WorkflowEnvironment
    task_queue: str
    services: Services

    @property
    def worker(self) -> WorkerProcess:
        """The first worker: most tests run one."""
        return self.workers[0]


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(dev_env, tmp_path) as running:
        yield running


@contextlib.asynccontextmanager
async def open_stack(
    temporal: WorkflowEnvironment, tmp_path: Path, *, policy: str = E2E_POLICY, workers: int = 1
) -> AsyncIterator[Stack]:
    """The sandbox, the API (in this process, over HTTP) and `workers` worker processes on one SQLite database,
    connected to `temporal`; the policy's merchant is the only one."""
    api_port = free_port()
    task_queue = f"e2e-{uuid.uuid4().hex[:8]}"
    db_url = f"sqlite:///{tmp_path / 'aftercare.db'}"
    async with run_sandbox(
        http_port=0,
        smtp_port=0,
        webhook_url=f"http://127.0.0.1:{api_port}/v1/carriers/easypost/events",
    ) as sandbox:
        target = temporal.client.service_client.config.target_host
        host, port = target.rsplit(":", 1)
        env = os.environ | {
            "AFTERCARE_TEMPORAL_HOST": host,
            "AFTERCARE_TEMPORAL_PORT": port,
            "AFTERCARE_TASK_QUEUE": task_queue,
            "AFTERCARE_DATABASE_URL": db_url,
            "AFTERCARE_SMTP_HOST": sandbox.smtp_host,
            "AFTERCARE_SMTP_PORT": str(sandbox.smtp_port),
            "AFTERCARE_TWILIO_BASE_URL": sandbox.twilio_base_url,
            "AFTERCARE_EASYPOST_BASE_URL": sandbox.easypost_base_url,
            "AFTERCARE_AFTERSHIP_BASE_URL": f"{sandbox.http_url}/aftership",
            "AFTERCARE_STRIPE_BASE_URL": sandbox.stripe_base_url,
            "E2E_STRIPE_SECRET_KEY": next(iter(sandbox.state.stripe_api_keys)),  # the e2e merchant's account
            "AFTERCARE_HOME": str(tmp_path),
            "AFTERCARE_CODEC_KEYS": TEST_CODEC_KEYS,
        }
        settings = _settings_from(env)
        store = Store.open(db_url)
        loaded = load_policy_text(policy, "e2e.yaml")
        # the API's own client, as production connects it: its identity, and signals that say who sent them
        api_client = await Client.connect(
            target,
            namespace=temporal.client.namespace,
            data_converter=CONVERTER,
            interceptors=client_interceptors(CONVERTER),
            identity=client_identity("api"),
        )
        services = Services(
            store=store,
            temporal=api_client,
            policies={loaded.policy.merchant.id: loaded},
            carriers=build_carriers(settings),
            task_queue=task_queue,
            temporal_ui_url=WEB_UI,
            callbacks=build_callbacks(CallbackSecrets(sendgrid_public_key=SENDGRID_PUBLIC_KEY)),
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(services), host="127.0.0.1", port=api_port, log_level="warning", lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        logs = ["worker.log"] if workers == 1 else [f"worker-{n}.log" for n in range(1, workers + 1)]
        processes = [WorkerProcess(env=env, log=tmp_path / log) for log in logs]
        for process in processes:
            process.start()
        try:
            token = store.create_api_token("e2e-admin", Role.ADMIN).token
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30, headers=headers) as api:
                yield Stack(api, sandbox, store, processes, temporal, task_queue, services)
        finally:
            for process in processes:
                process.stop()
            server.should_exit = True
            await serving
            store.close()


def _settings_from(env: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


def merchant_headers(stack: Stack, name: str, merchant_id: str) -> dict[str, str]:
    """The Authorization header of a new merchant token, `name`, acting for `merchant_id`."""
    token = stack.store.create_api_token(name, Role.MERCHANT, merchant_id=merchant_id).token
    return {"Authorization": f"Bearer {token}"}


async def assert_refused_to_strangers(
    stack: Stack, path: str, stranger: dict[str, str], strangers_path: str | None = None
) -> None:
    """GET `path` with no token is 401; GET `strangers_path` (by default `path`) with `stranger`, the headers of
    a merchant token that may not read it, is 403."""
    async with httpx.AsyncClient(base_url=str(stack.api.base_url)) as plain:
        assert (await plain.get(path)).status_code == 401
        assert (await plain.get(strangers_path or path, headers=stranger)).status_code == 403


def terminal(stack: Stack, monkeypatch: pytest.MonkeyPatch, token: str, *commands: Any) -> argparse.ArgumentParser:
    """The `aftercare` CLI as a person at a terminal has it: their token and the API's URL in the environment,
    and a parser with the given command modules registered (each has `register(sub)`)."""
    monkeypatch.setenv("AFTERCARE_TOKEN", token)
    monkeypatch.setenv("AFTERCARE_API_URL", str(stack.api.base_url))
    parser = argparse.ArgumentParser(prog="aftercare")
    sub = parser.add_subparsers(dest="command")
    for module in commands:
        module.register(sub)
    return parser
