"""An SMTP server that accepts every message and keeps it for the outbox page and for tests.

Recipients at the reserved `.invalid` top-level domain are refused with 550, like a mailbox that
does not exist; `SandboxState.smtp_fail_next` scripts other failures (a 4xx at RCPT or DATA, or a
connection dropped right after the message was received).
"""

from __future__ import annotations

import asyncio
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from sandbox.state import ReceivedEmail, SandboxState, utcnow


def parse_email(envelope: Envelope) -> ReceivedEmail:
    raw = envelope.original_content or envelope.content or b""
    if isinstance(raw, str):
        raw = raw.encode()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    text = html = None
    plain_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    if plain_part is not None:
        text = plain_part.get_content()
    if html_part is not None:
        html = html_part.get_content()
    return ReceivedEmail(
        mail_from=str(envelope.mail_from or ""),
        rcpt_tos=list(envelope.rcpt_tos),
        from_=str(msg.get("From", "")),
        to=str(msg.get("To", "")),
        subject=str(msg.get("Subject", "")),
        text=text,
        html=html,
        message_id=str(msg.get("Message-ID", "")).strip(),
        received_at=utcnow(),
        headers={k: str(v) for k, v in msg.items()},
    )


class SinkHandler:
    """aiosmtpd handler: refuse `.invalid` recipients and scripted failures, keep everything else."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if (fail := self.state.take_smtp_failure("rcpt")) is not None:
            return f"{fail['code']} {fail['message']}"
        if address.rstrip(">").lower().endswith(".invalid"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if (fail := self.state.take_smtp_failure("data")) is not None:
            return f"{fail['code']} {fail['message']}"
        email = parse_email(envelope)
        self.state.add_email(email)
        if self.state.take_smtp_failure("disconnect_after_data") is not None:
            # the message is kept but the client never hears so: it cannot know whether it went out
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            await asyncio.sleep(0)
        return f"250 Message accepted for delivery {email.message_id}"


class SinkController(Controller):
    """aiosmtpd's threaded Controller, taught that port 0 means "pick a free port and tell me"."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_smtp_sink(state: SandboxState, host: str = "127.0.0.1", port: int = 2525, **kwargs: Any) -> SinkController:
    """Start the sink in its own thread; `controller.port` is the real port (also when 0 was asked)."""
    controller = SinkController(
        SinkHandler(state),
        hostname=host,
        port=port,
        server_hostname="sandbox.aftercare.local",
        enable_SMTPUTF8=True,
        **kwargs,
    )
    controller.start()
    state.smtp_host, state.smtp_port = host, controller.port
    return controller
