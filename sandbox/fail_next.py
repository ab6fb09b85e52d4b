"""The tracking stand-ins' scripted failures (`POST /_sandbox/<vendor>/fail-next`): one queue per vendor in
`SandboxState`, each entry answering `count` calls with its `status_code`, `delay_seconds` late.

Each stand-in words the failure in its vendor's error body; taking the next one is the same for all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ProviderFail(BaseModel):
    """A scripted failure of a tracking provider's API (Shippo, 17TRACK; AfterShip has its own defaults)."""

    status_code: int = Field(default=500, ge=400, le=599)
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0, ge=0, description="answer this late (to test timeouts)")
    retry_after: int | None = Field(default=None, ge=0, description="the Retry-After header to send, seconds")


async def next_failure(queue: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The failure this call answers with, after its delay (None: answer normally); the queue counts it down."""
    if not queue:
        return None
    fail = queue[0]
    fail["count"] -= 1
    if fail["count"] <= 0:
        queue.pop(0)
    await asyncio.sleep(fail["delay_seconds"])
    return fail


def queue_failure(queue: list[dict[str, Any]], failure: BaseModel) -> JSONResponse:
    """`POST /_sandbox/<vendor>/fail-next`: the failure joins the vendor's queue, which the answer shows."""
    queue.append(failure.model_dump())
    return JSONResponse({"queued": queue})
