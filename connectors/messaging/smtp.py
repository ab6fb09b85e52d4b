"""Email over plain SMTP (any relay: Postfix, SES/SendGrid SMTP endpoints, the sandbox's sink).

The stdlib `smtplib` runs in a worker thread so the activity's event loop never blocks. We drive the
SMTP dialogue step by step instead of calling `send_message()` because the one question that matters
after a failure is *did the server possibly take the message?* — only a failure after the message
body went out (DATA accepted with 354) leaves that open, and only then is `maybe_sent` True.

The idempotency key travels as the `Message-ID` (`<key@aftercare>`), so a duplicate that slips through
is recognisable downstream, and the Message-ID is the receipt id we record in the outbox.

Whose fault a permanent refusal is matters as much: a recipient refused at RCPT with 550/551/553
(or an enhanced status code X.1.x / X.2.x: bad mailbox, bad domain, mailbox disabled) is the
recipient's (`recipient_fault`, and "bounced" when the mailbox does not exist); a refused login, a
refused sender, a relay that will not relay (5.7.x), a refused message body are ours to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import ipaddress
import re
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal, get_args

from connectors.messaging.base import (
    RECIPIENT,
    MessagingError,
    NotCommitted,
    OutgoingMessage,
    SendReceipt,
    Suppression,
)
from domain import Channel

MESSAGE_ID_DOMAIN = "aftercare"
Security = Literal["none", "starttls", "tls"]
SECURITY_MODES: tuple[str, ...] = get_args(Security)
"""How the connection is protected: `none` (plain, a local relay or sink), `starttls` (plain, upgraded
with STARTTLS before login: usually port 587), `tls` (implicit TLS from the first byte: usually port 465)."""
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

    `default_sender` is the From used when a message carries none. `security` is one of
    SECURITY_MODES (`starttls=True` is the older spelling of `security="starttls"`); `tls_context`
    replaces the default certificate checks (system CAs, host name), e.g. to trust a private CA.
    A login (`username`) is only sent after STARTTLS or over implicit TLS when one of those is chosen.
    """

    channel = Channel.EMAIL
    provider = "SMTP"

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
        security: Security | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if security is not None and security not in SECURITY_MODES:
            raise ValueError(f"SMTP security {security!r} is not one of {', '.join(SECURITY_MODES)}")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.security: Security = security or ("starttls" if starttls else "none")
        self.timeout = timeout
        self.default_sender = default_sender
        self._tls_context = tls_context

    @property
    def starttls(self) -> bool:
        return self.security == "starttls"

    def _connect(self) -> smtplib.SMTP:
        context = self._tls_context or ssl.create_default_context()
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        smtp.ehlo_or_helo_if_needed()
        if self.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        return smtp

    def _login_in_clear(self) -> bool:
        """A password would cross the network unencrypted: a login without TLS to a relay not on this host."""
        if not self.username or self.security != "none":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host != "localhost"

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        return await self.send_committed(message, lambda: True)

    async def send_committed(self, message: OutgoingMessage, commit: Callable[[], bool]) -> SendReceipt:
        """`send`, calling `commit()` just before the final dot that ends DATA (`CommitsLate`): refused there, the
        connection is dropped before the dot (so the server keeps nothing) and `NotCommitted` raised."""
        if self._login_in_clear():
            raise MessagingError(
                f"SMTP login to {self.host}:{self.port} without TLS would send the password in clear: set the SMTP"
                " security to starttls (usually port 587) or tls (usually port 465)",
                retryable=False,
            )
        if message.channel is not Channel.EMAIL:
            raise MessagingError(
                f"SMTP sends email, not {message.channel}: the worker wired this sender to the wrong channel",
                retryable=False,
            )
        msg = build_email(message, self.default_sender)
        if not msg["From"]:
            raise MessagingError(
                "no From address: set the policy's email sender (channels.email.sender)", retryable=False
            )
        from_addr = _envelope_address(str(msg["From"]))
        if not from_addr:
            raise MessagingError(
                f"the From {message.sender or self.default_sender!r} is not an email address:"
                " fix the policy's email sender",
                retryable=False,
            )
        to_addr = _envelope_address(message.recipient)
        if not to_addr:
            # no provider asked: not worth a suppression, the next message is refused here just as cheaply
            raise MessagingError(
                "the recipient is not an email address (it needs a name, '@' and a domain)",
                retryable=False,
                recipient_fault=True,
            )
        await asyncio.to_thread(self._send_blocking, msg, from_addr, to_addr, commit)
        return SendReceipt(provider_message_id=str(msg["Message-ID"]), accepted_at=datetime.now(UTC))

    def _send_blocking(self, msg: EmailMessage, from_addr: str, to_addr: str, commit: Callable[[], bool]) -> None:
        streaming = False  # True once the server said 354 and we started streaming the message
        data_sent = False  # True once the final dot went out: from then on the server may have it
        where = f"SMTP server {self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            smtp.ehlo_or_helo_if_needed()
            if self.username:
                try:
                    smtp.login(self.username, self.password or "")
                except (smtplib.SMTPResponseException, smtplib.SMTPServerDisconnected, smtplib.SMTPNotSupportedError):
                    raise
                except smtplib.SMTPException as exc:  # "No suitable authentication method found."
                    raise MessagingError(
                        f"{where} offers no login method we speak ({exc}): check the relay's AUTH settings",
                        retryable=False,
                    ) from exc
            options: list[str] = []
            policy = email.policy.SMTP
            if not (from_addr.isascii() and to_addr.isascii()):
                # a non-ASCII mailbox name (jürgen@...) travels only over SMTPUTF8 (RFC 6531)
                if not smtp.has_extn("smtputf8"):
                    raise MessagingError(
                        f"{where} cannot take the non-ASCII address of the "
                        f"{'recipient' if not to_addr.isascii() else f'sender {from_addr}'}"
                        " (no SMTPUTF8 support): use a relay that supports SMTPUTF8",
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
            streaming = True
            smtp.send(_dot_stuff(msg.as_bytes(policy=policy)))
            # The final dot is the point of no return: a server keeps nothing of a DATA whose connection drops first.
            if not commit():
                smtp.close()  # no QUIT: inside DATA it would be read as message text
                smtp = None
                raise NotCommitted(f"another attempt is sending message {msg['Message-ID']}; not sent from here")
            data_sent = True
            smtp.send(b".\r\n")
            code, resp = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, resp)
        except smtplib.SMTPRecipientsRefused as exc:
            code, resp = next(iter(exc.recipients.values()))
            fault, suppression = recipient_refusal(code, _text(resp))
            raise MessagingError(
                f"{where} refused the recipient: {code} {_text(resp).replace(to_addr, RECIPIENT)}",
                retryable=_temporary(code),
                recipient_fault=fault,
                suppression=suppression,
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise _refused(
                f"{where} refused sender {from_addr}",
                exc.smtp_code,
                exc.smtp_error,
                "check that the policy's email sender is an address this relay may send from",
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise MessagingError(
                f"{where} rejected the login for {self.username!r}: {exc.smtp_code} {_text(exc.smtp_error)}"
                + ("" if _temporary(exc.smtp_code) else " (check the SMTP username and password)"),
                retryable=_temporary(exc.smtp_code),
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise _refused(
                f"{where} refused the message", exc.smtp_code, exc.smtp_error, "see the relay's reply and logs"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MessagingError(
                f"{where} does not support what we asked: {exc} (check the relay's STARTTLS/AUTH settings)",
                retryable=False,
            ) from exc
        except OSError as exc:
            # refused connections, timeouts, drops (smtplib's errors are OSErrors too): nothing was
            # sent unless the body had already gone out
            if isinstance(exc, ssl.SSLError) and not streaming:
                # a certificate that does not check out, or no TLS spoken on this port: asking again
                # cannot help, someone has to fix the relay or the setting
                raise MessagingError(
                    f"{where} TLS failed ({exc.reason or exc}): check the SMTP security setting"
                    f" ({self.security}) against the relay's port, and its certificate",
                    retryable=False,
                ) from exc
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


def _temporary(code: int) -> bool:
    """5xx is permanent (try again cannot help), anything else temporary."""
    return not 500 <= code < 600


def _refused(what: str, code: int, resp: bytes | str, fix: str) -> MessagingError:
    """A refusal that is not about the recipient; the server kept nothing either way."""
    text = f"{what}: {code} {_text(resp)}"
    return MessagingError(text if _temporary(code) else f"{text} ({fix})", retryable=_temporary(code))


# RFC 3463 enhanced status code, at the start of the reply (RFC 2034) or qmail-style as "(#5.1.1)"
_ENHANCED = re.compile(r"(?:^|#)\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
# words in a bare 5xx RCPT refusal (no enhanced code) that say the relay, not the mailbox, refused
_NOT_THE_MAILBOX = re.compile(r"relay|auth|sender|spam|block|policy|denied", re.IGNORECASE)


def recipient_refusal(code: int, text: str) -> tuple[bool, Suppression | None]:
    """Whether a refusal at RCPT is the recipient's fault, and whether the mailbox is gone for good.

    Only permanent (5xx) refusals count. An enhanced status code decides when there is one: X.1.x
    (bad mailbox, bad domain, bad syntax, moved; not X.1.7/X.1.8, which are about the sender) and
    X.2.x (mailbox disabled or full; not X.2.3, message too long) are the recipient's; X.7.x (relaying
    denied, authentication required, policy) and the rest are ours. Without one, 550/551/553 are the
    recipient's unless the text says the relay refused (e.g. "Relaying denied").
    """
    if _temporary(code):
        return False, None
    if (enhanced := _ENHANCED.search(text.strip())) is not None:
        subject, detail = int(enhanced[2]), int(enhanced[3])
        if subject == 1 and detail not in (7, 8):
            return True, "bounced"
        if subject == 2 and detail != 3:
            return True, "bounced" if detail == 1 else None  # disabled: bounced; full: just this once
        return False, None
    if code in (550, 551, 553) and not _NOT_THE_MAILBOX.search(text):
        return True, "bounced"
    return False, None
