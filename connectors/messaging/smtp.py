"""Email over plain SMTP (any relay: Postfix, SES/SendGrid SMTP endpoints, the sandbox's sink).

The stdlib `smtplib` runs in a worker thread so the activity's event loop never blocks. We drive the
SMTP dialogue step by step instead of calling `send_message()` because the one question that matters
after a failure is *did the server possibly take the message?* — only a failure after the message
body went out (DATA accepted with 354) leaves that open, and only then is `maybe_sent` True.

The idempotency key travels as the `Message-ID` (`<key@aftercare>`), so a duplicate that slips through
is recognisable downstream, and the Message-ID is the receipt id we record in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from domain import Channel

MESSAGE_ID_DOMAIN = "aftercare"
_SAFE = re.compile(r"[A-Za-z0-9_+-]")


def message_id_for(idempotency_key: str) -> str:
    """`<key@aftercare>`, with every character a Message-ID may not hold encoded as `=XX` (reversible).

    Encoding rather than dropping keeps two different keys from ever sharing one Message-ID.
    """
    left = "".join(ch if _SAFE.fullmatch(ch) else "".join(f"={b:02X}" for b in ch.encode()) for ch in idempotency_key)
    return f"<{left or 'empty'}@{MESSAGE_ID_DOMAIN}>"


def build_email(message: OutgoingMessage, sender: str | None = None) -> EmailMessage:
    """A multipart/alternative message (text, plus HTML when given) ready for the wire."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = message.sender or sender or ""
    msg["To"] = message.recipient
    msg["Subject"] = message.subject or ""
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id_for(message.idempotency_key)
    msg["X-Aftercare-Idempotency-Key"] = message.idempotency_key
    # quoted-printable keeps non-ASCII text 7-bit safe: no relay needs 8BITMIME
    msg.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if message.html:
        msg.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


class SmtpEmailSender:
    """MessageSender for email through one SMTP server.

    `default_sender` is the From used when a message carries none.
    """

    channel = Channel.EMAIL

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10,
        *,
        default_sender: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.default_sender = default_sender

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel is not Channel.EMAIL:
            raise MessagingError(f"SMTP sends email, not {message.channel}", retryable=False)
        msg = build_email(message, self.default_sender)
        if not msg["From"]:
            raise MessagingError("no From address: set the policy's sender", retryable=False)
        from_addr = _envelope_address(str(msg["From"]))
        to_addr = _envelope_address(message.recipient)
        if not from_addr or not to_addr:
            raise MessagingError(
                f"not an email address: {message.recipient if not to_addr else msg['From']!r}", retryable=False
            )
        await asyncio.to_thread(self._send_blocking, msg, from_addr, to_addr)
        return SendReceipt(provider_message_id=str(msg["Message-ID"]), accepted_at=datetime.now(UTC))

    def _send_blocking(self, msg: EmailMessage, from_addr: str, to_addr: str) -> None:
        data_sent = False  # True once the server said 354 and we started streaming the message
        where = f"SMTP server {self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo_or_helo_if_needed()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            options: list[str] = []
            policy = email.policy.SMTP
            if not (from_addr.isascii() and to_addr.isascii()):
                # a non-ASCII mailbox name (jürgen@...) travels only over SMTPUTF8 (RFC 6531)
                if not smtp.has_extn("smtputf8"):
                    raise MessagingError(
                        f"{where} cannot take the non-ASCII address {to_addr if not to_addr.isascii() else from_addr}"
                        " (no SMTPUTF8 support)",
                        retryable=False,
                    )
                options = ["SMTPUTF8", "BODY=8BITMIME"]
                policy = email.policy.SMTPUTF8
                smtp.command_encoding = "utf-8"
            code, resp = smtp.mail(from_addr, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, resp, from_addr)
            code, resp = smtp.rcpt(to_addr)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({to_addr: (code, resp)})
            code, resp = smtp.docmd("DATA")
            if code != 354:
                raise smtplib.SMTPDataError(code, resp)
            data_sent = True
            smtp.send(_dot_stuff(msg.as_bytes(policy=policy)) + b".\r\n")
            code, resp = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, resp)
        except smtplib.SMTPRecipientsRefused as exc:
            code, resp = next(iter(exc.recipients.values()))
            raise _refused(f"{where} refused recipient {to_addr}", code, resp) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise _refused(f"{where} refused sender {from_addr}", exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise MessagingError(
                f"{where} rejected the login for {self.username!r}: {_text(exc.smtp_error)}", retryable=False
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise _refused(f"{where} refused the message", exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MessagingError(f"{where} does not support what we asked: {exc}", retryable=False) from exc
        except OSError as exc:
            # refused connections, timeouts, drops (smtplib's errors are OSErrors too): nothing was
            # sent unless the body had already gone out
            if data_sent:
                raise MessagingError(
                    f"{where} dropped the connection after the message was sent ({exc!r}); it may have been delivered",
                    retryable=True,
                    maybe_sent=True,
                ) from exc
            raise MessagingError(f"{where} not reachable or not answering: {exc!r}", retryable=True) from exc
        finally:
            if smtp is not None:
                with contextlib.suppress(OSError):  # the message is settled; a failed QUIT changes nothing
                    smtp.quit()
                smtp.close()


def _envelope_address(value: str) -> str:
    """The bare address for MAIL FROM / RCPT TO: display name dropped, the domain IDNA-encoded."""
    _, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        return ""
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return f"{local}@{domain}"


def _dot_stuff(data: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2): CRLF line ends, a leading '.' doubled, a final CRLF."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _refused(what: str, code: int, resp: bytes | str) -> MessagingError:
    """5xx is permanent (try again cannot help), 4xx is temporary; the server kept nothing either way."""
    return MessagingError(f"{what}: {code} {_text(resp)}", retryable=not 500 <= code < 600)
