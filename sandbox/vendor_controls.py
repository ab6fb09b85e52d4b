"""Controls shared by the sandbox's email and WhatsApp API stand-ins (SendGrid, Postmark, WhatsApp Cloud).

Under `/_sandbox/<vendor>/`: `fail-next` (the next calls answer an HTTP error in the vendor's own error
body, or answer late after taking the message), `refuse` (a recipient the vendor will not take),
`revoke-key` (a key or token the vendor no longer accepts), and `GET requests` (every request received,
with its JSON body exactly as sent and the last four characters of the credential it came with).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.state import SandboxState


class FailNext(BaseModel):
    status_code: int = Field(default=500, ge=200, le=599)
    message: str | None = None
    delay_seconds: float = Field(default=0, ge=0, le=60, description="take the message, then answer this late")
    count: int = Field(default=1, ge=1, le=100)


class Refuse(BaseModel):
    recipient: str = Field(min_length=1, max_length=320)


class Revoke(BaseModel):
    key: str = Field(min_length=1, max_length=512)


def credential_hint(key: str) -> str:
    """What the sandbox keeps of a credential: its last four characters, as vendors' dashboards show keys."""
    return "…" + key[-4:]


def take_failure(state: SandboxState, vendor: str) -> dict[str, Any] | None:
    """The next scripted failure for `vendor`, if any (a count above one stays queued, one less)."""
    with state.lock:
        queue = state.api_fail_next.setdefault(vendor, [])
        if not queue:
            return None
        failure = queue.pop(0)
        if failure["count"] > 1:
            queue.insert(0, {**failure, "count": failure["count"] - 1})
        return failure


async def answer_late(failure: dict[str, Any] | None) -> None:
    if failure and failure["delay_seconds"]:
        await asyncio.sleep(failure["delay_seconds"])


def record(state: SandboxState, vendor: str, entry: dict[str, Any]) -> None:
    with state.lock:
        state.api_requests.setdefault(vendor, []).append(entry)


def is_refused(state: SandboxState, vendor: str, recipient: str) -> bool:
    with state.lock:
        return recipient.strip().lower() in state.api_refused.get(vendor, set())


def is_revoked(state: SandboxState, vendor: str, key: str) -> bool:
    with state.lock:
        return key in state.api_revoked_keys.get(vendor, set())


def build_controls(state: SandboxState, vendor: str) -> APIRouter:
    router = APIRouter(prefix=f"/_sandbox/{vendor}", tags=["sandbox"])

    @router.post("/fail-next")
    async def fail_next(body: FailNext) -> JSONResponse:
        with state.lock:
            queue = state.api_fail_next.setdefault(vendor, [])
            queue.append(body.model_dump())
            return JSONResponse({"queued": list(queue)})

    @router.post("/refuse")
    async def refuse(body: Refuse) -> JSONResponse:
        with state.lock:
            refused = state.api_refused.setdefault(vendor, set())
            refused.add(body.recipient.strip().lower())
            return JSONResponse({"refused": sorted(refused)})

    @router.post("/revoke-key")
    async def revoke(body: Revoke) -> JSONResponse:
        with state.lock:
            state.api_revoked_keys.setdefault(vendor, set()).add(body.key)
        return JSONResponse({"revoked": credential_hint(body.key)})

    @router.get("/requests")
    async def requests() -> JSONResponse:
        with state.lock:
            return JSONResponse({"requests": list(state.api_requests.get(vendor, []))})

    return router
