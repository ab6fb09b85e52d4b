"""Signals say who sent them: the request's sender rides on each signal as an encrypted header, named from
the acting token or the webhook's path, and reads back (what the timeline shows as "by")."""

from __future__ import annotations

from typing import Any

from temporalio.client import OutboundInterceptor, SignalWorkflowInput

from aftercare.senders import SENT_BY_HEADER, SenderInterceptor, read_sender, sending_as
from api.senders import ANONYMOUS, actor_label, sender_for_path
from domain import Actor, Role
from tests.conftest import CONVERTER


class Recorder(OutboundInterceptor):
    def __init__(self) -> None:
        self.sent: list[SignalWorkflowInput] = []

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self.sent.append(input)


def signal() -> SignalWorkflowInput:
    return SignalWorkflowInput(
        id="order-x", run_id=None, signal="reordered", args=[], headers={}, rpc_metadata={}, rpc_timeout=None
    )


async def test_a_signal_carries_its_sender_encrypted_and_reads_back() -> None:
    recorder = Recorder()
    outbound = SenderInterceptor(CONVERTER).intercept_client(recorder)
    await outbound.signal_workflow(signal())  # no sender known: no header
    with sending_as("acme-shop (merchant)"):
        await outbound.signal_workflow(signal())
    first, second = recorder.sent
    assert SENT_BY_HEADER not in first.headers
    header: Any = second.headers[SENT_BY_HEADER]
    assert b"acme-shop" not in header.SerializeToString()  # encrypted like every payload
    assert await read_sender(second.headers, CONVERTER) == "acme-shop (merchant)"
    assert await read_sender({}, CONVERTER) is None


def test_senders_are_named_from_the_token_or_the_webhook() -> None:
    assert actor_label(Actor(name="sam", role=Role.SUPPORT)) == "sam (support)"
    assert sender_for_path("/v1/carriers/easypost/events") == "carrier webhook easypost"
    assert sender_for_path("/v1/webhooks/shopify") == "store webhook shopify"
    assert sender_for_path("/v1/orders/1001/signals/reordered") == ANONYMOUS
