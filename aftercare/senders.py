"""Who sent a signal: a header on every signal (and start) a client sends, read back by the timeline.

Temporal records the sending *process* as a signal's identity (`aftercare-api@host`), not the person or
system behind the request. The API knows that (the token's name and role, or the webhook that called), so
it sets it in a context variable for the request, and `SenderInterceptor` adds it to each signal and start
the client sends as the `aftercare-sent-by` header. The header is a payload encoded with the production
converter, so it is encrypted like every other payload (a token's name is not for the server's eyes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.converter import DataConverter

SENT_BY_HEADER = "aftercare-sent-by"

_sender: ContextVar[str | None] = ContextVar("aftercare_sender", default=None)


def set_sender(who: str | None) -> None:
    """Who the current request acts as, for every signal it sends from here on (this task only)."""
    _sender.set(who)


def current_sender() -> str | None:
    return _sender.get()


@contextmanager
def sending_as(who: str) -> Iterator[None]:
    """Signals sent inside the block carry `who` (for code that is not inside a request: the demo, tools)."""
    token = _sender.set(who)
    try:
        yield
    finally:
        _sender.reset(token)


async def read_sender(headers: Mapping[str, Payload], converter: DataConverter) -> str | None:
    """The sender a header names, or None when there is none (or it cannot be decoded with our keys)."""
    payload = headers.get(SENT_BY_HEADER)
    if payload is None:
        return None
    try:
        [value] = await converter.decode([payload])
    except Exception:  # a key we no longer hold: the identity still says which process sent it
        return None
    return value if isinstance(value, str) and value else None


class SenderInterceptor(Interceptor):
    """Adds the current sender to every signal and workflow start the client sends."""

    def __init__(self, converter: DataConverter) -> None:
        self.converter = converter

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _SenderOutbound(next, self.converter)


class _SenderOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, converter: DataConverter) -> None:
        super().__init__(next)
        self.converter = converter

    async def _with_sender(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        who = _sender.get()
        if not who:
            return headers
        [payload] = await self.converter.encode([who])
        return {**headers, SENT_BY_HEADER: payload}

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers = await self._with_sender(input.headers)
        await super().signal_workflow(input)

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        input.headers = await self._with_sender(input.headers)
        return await super().start_workflow(input)
