"""What every messaging provider connector offers: send one rendered message, say clearly if it failed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel

from domain import Channel


class OutgoingTemplate(BaseModel):
    """An approved provider template with its body parameters already filled in (WhatsApp Cloud API)."""

    name: str
    language: str
    parameters: list[str] = []


class OutgoingMessage(BaseModel):
    """A rendered message ready for a provider. `idempotency_key` travels to the provider where it can.

    `template` is set when the merchant's provider sends approved templates only (WhatsApp Cloud API);
    such a provider sends the template and ignores `text`."""

    channel: Channel
    recipient: str
    sender: str
    text: str
    subject: str | None = None
    html: str | None = None
    idempotency_key: str
    template: OutgoingTemplate | None = None
    # The merchant sending from its own provider account: a provider whose callback URL goes with each message
    # (Twilio's StatusCallback) names it there (`?merchant_id=`), so the callback is checked with its own secret.
    callback_merchant: str | None = None


class SendReceipt(BaseModel):
    provider_message_id: str
    accepted_at: datetime


Suppression = Literal["opted_out", "bounced"]
RECIPIENT = "[recipient]"  # what an error message says instead of the address or number


class MessagingError(Exception):
    """A provider refused or failed. `retryable` is False when trying again cannot help (bad number...).

    `maybe_sent` is True when the provider may have accepted the message before the failure showed
    (e.g. the connection dropped after the request went out): the caller must not blindly resend.

    `recipient_fault` is True when the provider said the *recipient* is the problem: the address or
    number is invalid, unreachable or unsubscribed. A permanent failure that is not the recipient's
    fault (login refused, no or bad From, wrong channel, account suspended...) is ours to fix, and
    must not be mistaken for a customer we may not write to.

    `suppression` (only with `recipient_fault`) is set when the provider's answer means "never try
    this address on this channel again": "opted_out" (the recipient unsubscribed, e.g. replied STOP)
    or "bounced" (the address or number does not exist or cannot receive this channel at all).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        maybe_sent: bool = False,
        recipient_fault: bool = False,
        suppression: Suppression | None = None,
    ) -> None:
        if suppression is not None and not recipient_fault:
            raise ValueError("a suppression is only for recipient faults")
        super().__init__(message)
        self.retryable = retryable
        self.maybe_sent = maybe_sent
        self.recipient_fault = recipient_fault
        self.suppression = suppression

    def without_recipient(self, recipient: str) -> MessagingError:
        """This error with the recipient's address or number taken out of its message (providers echo it:
        "550 <ada@example.com>: no such mailbox", "The 'To' number +1555... is not valid"), and without its
        chained cause, whose text names it too. What stays says what happened; the message's idempotency
        key says to whom. Raise the result `from None`: error messages end up in logs and tracebacks."""
        text = str(self)
        if recipient.strip():
            text = re.sub(re.escape(recipient.strip()), RECIPIENT, text, flags=re.IGNORECASE)
        if text == str(self) and self.__cause__ is None and self.__context__ is None:
            return self  # nothing to take out
        return MessagingError(
            text,
            retryable=self.retryable,
            maybe_sent=self.maybe_sent,
            recipient_fault=self.recipient_fault,
            suppression=self.suppression,
        )


class MessageSender(Protocol):
    channel: Channel
    provider: str  # who sends, for people reading errors: "SMTP", "Twilio"

    async def send(self, message: OutgoingMessage) -> SendReceipt: ...


class NotCommitted(Exception):
    """A late-committing sender's `commit` said no at its point of no return: another attempt owns the message (or
    it is settled already). Nothing was sent."""


@runtime_checkable
class CommitsLate(Protocol):
    """Optional: a sender whose call reaches its point of no return well after it starts (SMTP: the message is the
    server's only at the final dot of DATA, after a thread, the connection, the greeting, MAIL, RCPT and the text).

    `send_committed` calls `commit()` (from any thread) right before that point and goes on only if it answers
    True; otherwise it stops without sending and raises `NotCommitted`. The outbox marks a message 'sending' in
    `commit`, so 'sending' means "the provider may have it": a worker killed while it waited or connected leaves
    a row the retry simply sends, not one it must record as sent-unconfirmed and never send."""

    async def send_committed(self, message: OutgoingMessage, commit: Callable[[], bool]) -> SendReceipt: ...


@runtime_checkable
class MessageLookup(Protocol):
    """Optional: a sender whose provider can say whether it took a message (its message search).

    Used to settle a send an attempt left in flight (a crash during the provider call): `lookup` answers the
    provider's receipt when the provider has the message, None when the provider says it never got it, and raises
    `MessagingError` when it cannot tell (an outage, an answer it cannot read, several candidates it cannot tell
    apart). None must mean "certainly not there": the caller may send the message again on it. `since` is when
    the attempt that was interrupted started; the provider's own clock may differ by a little."""

    async def lookup(self, message: OutgoingMessage, since: datetime) -> SendReceipt | None: ...


Kind = Literal["retry", "recipient", "configuration"]


class Refusal(NamedTuple):
    """What a provider's error code means for us, as a units table row.

    `retry`: asking again can help (rate limits, outages). `recipient`: the recipient cannot get it
    (skip; `suppression` when never to try again). `configuration`: our setup is broken (fail loudly)."""

    kind: Kind
    hint: str
    suppression: Suppression | None = None


def refusal_error(label: str, text: str, status: int, refusal: Refusal | None) -> MessagingError:
    """A MessagingError from a units-table row; no row: 429 and 5xx are retryable, the rest ours to fix."""
    if refusal is None:
        retryable = status == 429 or status >= 500
        return MessagingError(f"{label}: {text or 'no details'} (HTTP {status})", retryable=retryable)
    words = f"{text}; {refusal.hint}" if text and refusal.hint not in text else (text or refusal.hint)
    return MessagingError(
        f"{label}: {words} (HTTP {status})",
        retryable=refusal.kind == "retry",
        recipient_fault=refusal.kind == "recipient",
        suppression=refusal.suppression if refusal.kind == "recipient" else None,
    )
