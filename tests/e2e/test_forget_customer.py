"""`aftercare customer forget` on a running journey, on the whole embedded stack (real worker process, API, SMTP
sink, dev server): the customer's data leaves the database, their journey sends them nothing more, the API no
longer shows their address, and the audit log says it happened without saying who."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import pytest
import sqlalchemy as sa
from rich.console import Console

from aftercare.privacy_cli import forget_command
from aftercare.settings import Settings
from domain import journey_id
from tests.e2e.conftest import Stack
from tests.e2e.test_journey_e2e import EMAIL, PHONE, order_payload, wait_for_message, wait_for_stage
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver


def _forget(address: str, merchant: str | None = "e2e") -> tuple[int, str]:
    """The command as an operator runs it, in the stack's environment (database, Temporal, codec keys)."""
    out = io.StringIO()
    status = forget_command(Settings(), address, merchant, "ops-alice", console=Console(file=out, width=200))
    return status, out.getvalue()


@pytest.fixture
def operator_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in stack.worker.env.items():
        if name.startswith("AFTERCARE_"):
            monkeypatch.setenv(name, value)


async def test_forgetting_a_customer_stops_their_running_journey_and_erases_their_data(
    stack: Stack, operator_env: None
) -> None:
    order_id = f"E2E-{uuid.uuid4().hex[:6]}"
    created = await stack.api.post("/v1/orders", json=order_payload(order_id))
    assert created.status_code == 201, created.text
    await wait_for_message(stack, order_id, "confirmation")

    status, said = await asyncio.to_thread(_forget, f"  {EMAIL.upper()} ")

    assert status == 0, said
    assert order_id in said and "messages stopped" in said and "retention removes them" in said
    state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
    assert sorted(state["preferences"]["opted_out"]) == ["email", "sms", "whatsapp"]
    # the journey goes on (it may still refund or track), but sends the customer nothing
    tracking = f"EZ{uuid.uuid4().hex[:10].upper()}"
    shipped = await stack.api.post(
        f"/v1/orders/{order_id}/shipments", json={"carrier": "easypost", "tracking_number": tracking}
    )
    assert shipped.status_code == 201, shipped.text

    async def shipped_skipped() -> dict:
        state = (await stack.api.get(f"/v1/orders/{order_id}")).json()
        [message] = [m for m in state["messages"] if m["step"] == "shipped"]
        assert message["status"] == "skipped" and message["skip_reason"] == "opted_out"
        return dict(state)

    state = await eventually(shipped_skipped, "the shipped message skipped", timeout=30)
    await wait_for_stage(stack, order_id, "in_transit")
    # the confirmation before the erasure, nothing after
    assert len([e for e in stack.sandbox.state.emails if EMAIL in e.rcpt_tos]) == 1
    assert not [t for t in stack.sandbox.state.texts if t["to"] == PHONE]
    # the API shows no address, though the journey still holds it
    assert EMAIL not in json.dumps(state) and PHONE not in json.dumps(state)
    # nor does the database, anywhere
    with stack.store.engine.begin() as conn:
        rows = {
            t: [list(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}")).all()]
            for t in ("customers", "orders", "messages", "audit_log")
        }
    dump = json.dumps(rows, default=str).lower()
    assert EMAIL not in dump and PHONE not in dump and "grace" not in dump
    [erasure] = [e for e in stack.store.list_audit("e2e", order_id) if e.action == "erase_customer"]
    assert erasure.actor.name == "ops-alice" and erasure.result["orders"] == 1
    order = stack.store.get_order("e2e", order_id)
    assert order is not None and order.customer.email is None and order.workflow_id == journey_id("e2e", order_id)

    again, said = await asyncio.to_thread(_forget, EMAIL)  # nothing left to find
    assert again == 0 and "0 customers found" in said
