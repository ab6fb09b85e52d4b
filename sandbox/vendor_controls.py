"""Controls shared by the sandbox's email and WhatsApp API stand-ins (SendGrid, Postmark, WhatsApp Cloud).

Under `/_sandbox/<vendor>/`: `fail-next` (the next calls answer an HTTP error in the vendor's own error
body, or answer late after taking the message), `refuse` (a recipient the vendor will not take),
`revoke-key` (a key or token the vendor no longer accepts), and `GET requests` (every request received,
with its JSON body exactly as sent and the last four characters of the credential it came with).

A stand-in holds one `VendorApi` (the state and its vendor's name) and asks it, per request, whether the key is
revoked, the recipient refused, a failure scripted; it records what it took there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
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


async def answer_late(failure: dict[str, Any] | None) -> None:
    if failure and failure["delay_seconds"]:
        await asyncio.sleep(failure["delay_seconds"])


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


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer <token>` header, "" without one."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


class VendorApi:
    """One stand-in's view of the shared controls, bound to the sandbox's state and its vendor's name."""

    def __init__(self, state: SandboxState, vendor: str) -> None:
        self.state = state
        self.vendor = vendor

    def take_failure(self) -> dict[str, Any] | None:
        """The next scripted failure, if any (a count above one stays queued, one less)."""
        with self.state.lock:
            queue = self.state.api_fail_next.setdefault(self.vendor, [])
            if not queue:
                return None
            failure = queue.pop(0)
            if failure["count"] > 1:
                queue.insert(0, {**failure, "count": failure["count"] - 1})
            return failure

    def record(self, entry: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.api_requests.setdefault(self.vendor, []).append(entry)

    def is_refused(self, recipient: str) -> bool:
        with self.state.lock:
            return recipient.strip().lower() in self.state.api_refused.get(self.vendor, set())

    def is_revoked(self, key: str) -> bool:
        with self.state.lock:
            return key in self.state.api_revoked_keys.get(self.vendor, set())

    def controls(self) -> APIRouter:
        return build_controls(self.state, self.vendor)
