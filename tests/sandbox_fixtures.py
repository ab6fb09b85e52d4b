"""A real sandbox (HTTP + SMTP on free ports), started once per session, for connector and sandbox tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import RunningSandbox, SandboxState, run_sandbox

WEBHOOK_SECRET = "test-webhook-secret"
API_KEY = "test-api-key"
STRIPE_KEY = "sk_test_fixture_key"
OTHER_STRIPE_KEY = "sk_test_another_merchant"  # a second account: another merchant's Stripe


@pytest.fixture(scope="session")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    state = SandboxState(
        easypost_api_keys={API_KEY}, stripe_api_keys={STRIPE_KEY, OTHER_STRIPE_KEY}, webhook_retry_delays=(0.05, 0.1)
    )
    async with run_sandbox("127.0.0.1", 0, 0, "http://unused", WEBHOOK_SECRET, state=state) as running:
        # carrier webhooks go to the sandbox's own receiver, where tests pick them up
        running.state.webhook_url = f"{running.http_url}/_sandbox/easypost/webhook-sink"
        yield running


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """One connection pool for the whole session (building an httpx client costs ~60 ms)."""
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
async def _control_client(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=5) as client:
        yield client


@pytest.fixture
async def control(_control_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client for the sandbox's control endpoints; every test starts from an empty sandbox."""
    (await _control_client.post("/_sandbox/reset")).raise_for_status()
    return _control_client


@pytest.fixture
def api_key() -> str:
    """The EasyPost API key the sandbox accepts."""
    return API_KEY


@pytest.fixture
def stripe_key() -> str:
    """The Stripe secret key the sandbox accepts."""
    return STRIPE_KEY


@pytest.fixture
def webhook_secret() -> str:
    """The secret the sandbox signs carrier webhooks with."""
    return WEBHOOK_SECRET
