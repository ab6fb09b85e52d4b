"""Start the whole sandbox (HTTP app + SMTP sink) inside the current event loop, and stop it cleanly.

Used by `python -m sandbox`, by `aftercare up`, and by tests (with port 0: free ports, reported back).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from sandbox.app import create_app
from sandbox.persistence import keep_state
from sandbox.smtp_sink import start_smtp_sink
from sandbox.state import SandboxState

DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8000/v1/carriers/easypost/events"
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"


@dataclass(frozen=True)
class RunningSandbox:
    """Where a started sandbox listens, and its state (everything it received)."""

    state: SandboxState
    http_url: str
    smtp_host: str
    smtp_port: int
    serving: asyncio.Task[None]  # the HTTP server; done when it stopped (e.g. on Ctrl+C)

    @property
    def easypost_base_url(self) -> str:
        return f"{self.http_url}/easypost"

    @property
    def shippo_base_url(self) -> str:
        return f"{self.http_url}/shippo"

    @property
    def seventeentrack_base_url(self) -> str:
        return f"{self.http_url}/17track"

    @property
    def twilio_base_url(self) -> str:
        return f"{self.http_url}/twilio"

    @property
    def stripe_base_url(self) -> str:
        return f"{self.http_url}/stripe"

    @property
    def sendgrid_base_url(self) -> str:
        return f"{self.http_url}/sendgrid"

    @property
    def postmark_base_url(self) -> str:
        return f"{self.http_url}/postmark"

    @property
    def whatsapp_base_url(self) -> str:
        return f"{self.http_url}/whatsapp"

    @property
    def outbox_url(self) -> str:
        return f"{self.http_url}/outbox"


def _bind(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts so a busy port is a clear OSError and port 0 gives a real number."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP, or asyncio skips TCP_NODELAY on accepted connections (40 ms per request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"sandbox cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.asynccontextmanager
async def run_sandbox(
    host: str = "127.0.0.1",
    http_port: int = 8025,
    smtp_port: int = 2525,
    webhook_url: str = DEFAULT_WEBHOOK_URL,
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
    *,
    state: SandboxState | None = None,
    log_level: str = "warning",
    state_dir: Path | None = None,
) -> AsyncIterator[RunningSandbox]:
    """Run uvicorn (this loop) and the aiosmtpd sink (its own thread) until the block exits.

    With `state_dir`, what the stand-ins hold (the outbox, trackers...) is restored from it first and kept
    there while running (`sandbox.persistence`), so a restart forgets nothing; without, it is memory only."""
    state = state or SandboxState()
    state.webhook_url, state.webhook_secret = webhook_url, webhook_secret
    async with contextlib.AsyncExitStack() as kept:
        if state_dir is not None:
            await kept.enter_async_context(keep_state(state, state_dir))
        async with _serve(host, http_port, smtp_port, state, log_level) as running:
            yield running


@contextlib.asynccontextmanager
async def _serve(
    host: str, http_port: int, smtp_port: int, state: SandboxState, log_level: str
) -> AsyncIterator[RunningSandbox]:
    sock = _bind(host, http_port)
    state.http_url = f"http://{_url_host(host)}:{sock.getsockname()[1]}"
    controller = await asyncio.to_thread(start_smtp_sink, state, host, smtp_port)
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), log_level=log_level, lifespan="on", access_log=log_level == "debug")
    )
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped it
                raise RuntimeError("sandbox HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        yield RunningSandbox(state, state.http_url, host, controller.port, serving)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
        await asyncio.to_thread(controller.stop)
