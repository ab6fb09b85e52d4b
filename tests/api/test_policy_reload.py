"""`POST /v1/policies/reload` and `aftercare policy reload`: a policy file added while the API runs is taken
by new orders after a reload; a broken directory is refused with file:line:col and the set in use stays."""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from rich.console import Console

from aftercare.policy_cli import reload_command
from aftercare.settings import Settings
from api.app import create_app
from api.services import Services
from domain import Role
from policies.loader import BUNDLED_DIR, load_policy, load_policy_dir
from storage import Store
from tests.api.intake_app import order_body


@dataclass
class FakeTemporal:
    """Records the journeys the API starts (their input carries the policy snapshot and its hash)."""

    started: list[Any] = field(default_factory=list)

    async def start_workflow(self, _run: Any, journey_input: Any, **_: Any) -> None:
        self.started.append(journey_input)


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services
    temporal: FakeTemporal
    policy_dir: Path
    store: Store
    url: str


def order(merchant: str, order_id: str = "1001") -> dict[str, Any]:
    return order_body(
        merchant,
        order_id,
        currency="USD",
        total="40.00",
        customer={"id": "c-1", "email": "ada@example.com", "marketing_consent": True},
        shipping_address={"country": "US"},
        items=[{"id": "li-1", "sku": "FILTER-2", "name": "Water filter", "quantity": 2, "unit_price": "20.00"}],
    )


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    shutil.copy(BUNDLED_DIR / "default.yaml", directory)
    return directory


@pytest.fixture
async def api(policy_dir: Path, store: Store) -> AsyncIterator[Api]:
    temporal = FakeTemporal()
    services = Services(
        store=store,
        temporal=temporal,  # type: ignore[arg-type]
        policies=load_policy_dir(policy_dir),
        carriers={},
        task_queue="test",
        policy_dir=policy_dir,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    admin = store.create_api_token("root", Role.ADMIN).token
    try:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as client:
            yield Api(client, services, temporal, policy_dir, store, url)
    finally:
        server.should_exit = True
        await serving


async def test_a_policy_added_while_running_reaches_new_orders_after_a_reload(api: Api) -> None:
    refused = await api.client.post("/v1/orders", json=order("acme"))
    assert refused.status_code == 422 and refused.json()["error"] == "unknown_merchant"

    shutil.copy(BUNDLED_DIR / "acme.yaml", api.policy_dir)
    acme = load_policy(BUNDLED_DIR / "acme.yaml")
    reloaded = await api.client.post("/v1/policies/reload")
    assert reloaded.status_code == 200, reloaded.text
    rows = {r["merchant_id"]: r for r in reloaded.json()["policies"]}
    assert rows["acme"]["change"] == "added" and rows["acme"]["hash"] == acme.hash
    assert rows["default"]["change"] == "unchanged"

    accepted = await api.client.post("/v1/orders", json=order("acme"))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["policy_hash"] == acme.hash
    [journey] = api.temporal.started
    assert journey.policy_hash == acme.hash and journey.policy.merchant.id == "acme"


async def test_a_broken_file_is_refused_with_its_position_and_the_old_set_stays(api: Api) -> None:
    shutil.copy(BUNDLED_DIR / "acme.yaml", api.policy_dir)
    assert (await api.client.post("/v1/policies/reload")).status_code == 200
    acme_hash = api.services.policies["acme"].hash

    broken = api.policy_dir / "acme.yaml"
    broken.write_text(broken.read_text().replace("stalled_after: 72h", "stalled_after: 72x"))
    (api.policy_dir / "late.yaml").write_text((BUNDLED_DIR / "demo.yaml").read_text())  # valid, but not taken
    refused = await api.client.post("/v1/policies/reload")
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_policies"
    [problem] = body["problems"]
    line = next(i for i, text in enumerate(broken.read_text().splitlines(), 1) if "72x" in text)
    assert problem.startswith(f"{broken}:{line}:") and "delays.stalled_after" in problem and "'72x'" in problem
    assert "unchanged" in body["message"]
    assert set(api.services.policies) == {"acme", "default"} and api.services.policies["acme"].hash == acme_hash
    assert (await api.client.post("/v1/orders", json=order("demo"))).status_code == 422


async def test_only_an_admin_may_reload(api: Api) -> None:
    for role in (Role.ENGINEER, Role.SUPPORT):
        token = api.store.create_api_token(f"someone-{role.value}", role).token
        response = await api.client.post("/v1/policies/reload", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, response.text
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        assert (await anonymous.post("/v1/policies/reload")).status_code == 401


def _cli(api: Api, monkeypatch: pytest.MonkeyPatch, token: str) -> tuple[int, str]:
    monkeypatch.setenv("AFTERCARE_TOKEN", token)
    monkeypatch.setenv("AFTERCARE_API_URL", api.url)
    out = io.StringIO()
    code = reload_command(Settings(), console=Console(file=out, width=250))
    return code, out.getvalue()


async def test_the_cli_prints_merchants_and_hashes_or_every_problem(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = api.store.create_api_token("ops", Role.ADMIN).token
    shutil.copy(BUNDLED_DIR / "acme.yaml", api.policy_dir)
    code, text = await asyncio.to_thread(_cli, api, monkeypatch, admin)
    acme = load_policy(BUNDLED_DIR / "acme.yaml")
    assert code == 0, text
    [acme_line] = [line for line in text.splitlines() if " acme " in line]
    assert acme.hash in acme_line and "added" in acme_line
    assert "running journeys keep the policy they started with" in text

    (api.policy_dir / "acme.yaml").write_text("version: 1\nmerchant: [\n")
    code, text = await asyncio.to_thread(_cli, api, monkeypatch, admin)
    assert code == 1 and f"{api.policy_dir / 'acme.yaml'}:" in text and "not reloaded" in text
    assert api.services.policies["acme"].hash == acme.hash
