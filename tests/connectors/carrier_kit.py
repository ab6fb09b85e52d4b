"""What the carrier tests (EasyPost, Shippo, 17TRACK) do alike against the sandbox over real sockets."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from connectors.carriers.base import CarrierError
from domain import TrackingStatus


def dead_url(path: str) -> str:
    """A base URL on a local port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


async def fail_next(control: httpx.AsyncClient, vendor: str, **fields: object) -> None:
    """The sandbox's `vendor` answers its next call as `fields` say (status_code, retry_after, delay_seconds)."""
    await control.post(f"/_sandbox/{vendor}/fail-next", json=fields)


async def carrier_error(call: Awaitable[object], match: str | None = None) -> CarrierError:
    """The CarrierError `call` raises (its message matching `match`)."""
    with pytest.raises(CarrierError, match=match) as caught:
        await call
    return caught.value


async def last_push(control: httpx.AsyncClient) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the last push the sandbox sent (every vendor's go to the one sink)."""
    received = (await control.get("/_sandbox/easypost/webhook-sink")).json()
    assert received, "the sandbox pushed nothing"
    return received[-1]["body"].encode(), received[-1]["headers"]


async def assert_timeout_and_refusal_are_retryable(
    control: httpx.AsyncClient,
    vendor: str,
    slow: Any,
    down: Any,
    track: Callable[[Any], Awaitable[object]],
    timed_out: str = "timed out",
    unreachable: str = "unreachable",
) -> None:
    """`slow` (a short timeout) meets a sandbox that answers late, `down` a port nobody listens on: both
    failures are retryable, and say which they are."""
    await fail_next(control, vendor, status_code=500, delay_seconds=1)
    for client, match in ((slow, timed_out), (down, unreachable)):
        try:
            assert (await carrier_error(track(client), match)).retryable is True
        finally:
            await client.aclose()


async def assert_poll_and_push_agree(carrier: Any, control: httpx.AsyncClient, number: str) -> None:
    """The last push and a poll of `number` give the same event ids, the last one out for delivery."""
    body, headers = await last_push(control)

    pushed = carrier.parse_webhook(body, headers)
    polled = (await carrier.track(number)).events

    assert [e.event_id for e in pushed] == [e.event_id for e in polled]
    assert pushed[-1].status is TrackingStatus.OUT_FOR_DELIVERY
