"""Finding a message Twilio may have taken, in its Message list (`GET .../Messages.json?To=&From=&PageSize=`).

Twilio keeps no field of ours on a Message (no metadata, and the StatusCallback URL is not echoed), so a message
is matched on what it does keep exactly as sent: the `to` and `from` numbers (filtered by the list call), the
`body`, and a `date_created` no earlier than the interrupted attempt. The list is newest first. The answer is
"not there" only when the page covers the whole window since the attempt: a full page still inside the window,
or a page that does not parse, means we cannot tell, and the caller must not send again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from connectors.messaging.base import MessagingError, SendReceipt

PAGE_SIZE = 100
CLOCK_SKEW = timedelta(minutes=5)  # Twilio's clock against ours; an earlier message with the same body is taken too


def created_at(message: dict[str, Any]) -> datetime | None:
    """`date_created` (RFC 2822, `Wed, 18 Aug 2010 20:01:40 +0000`) as an aware time (`-0000`, "zone unknown", is
    read as UTC: Twilio's clock is); None if absent or odd."""
    raw = message.get("date_created")
    if not isinstance(raw, str):
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def find_sent(page: Any, body: str, since: datetime) -> SendReceipt | None:
    """Our message in one page of Twilio's Message list: its receipt, None when the page proves it is not there,
    a MessagingError when the page cannot prove either."""
    messages = page.get("messages") if isinstance(page, dict) else None
    if not isinstance(messages, list):
        raise MessagingError("Twilio's message list has no `messages` array; cannot tell whether it was sent",
                             retryable=True)  # fmt: skip
    start = since - CLOCK_SKEW
    reached_window_start = False
    for message in messages:
        if not isinstance(message, dict):
            continue
        when = created_at(message)
        if when is None:
            raise MessagingError("Twilio listed a message without a readable date_created", retryable=True)
        if when < start:
            reached_window_start = True
            break
        if message.get("body") == body and str(message.get("direction") or "outbound-api").startswith("outbound"):
            sid = message.get("sid")
            if isinstance(sid, str) and sid:
                return SendReceipt(provider_message_id=sid, accepted_at=when)
    if not reached_window_start and (len(messages) >= PAGE_SIZE or page.get("next_page_uri")):
        raise MessagingError(
            f"Twilio listed more than {PAGE_SIZE} messages to this number since the attempt; cannot tell whether it"
            " was sent",
            retryable=False,
        )
    return None
