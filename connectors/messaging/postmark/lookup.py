"""Finding a message Postmark may have taken, by our key: Outbound message search
(`GET {base}/messages/outbound?count=&offset=&metadata_aftercare_key=<key>&messagestream=`).

Postmark keeps the `Metadata` we send and searches on one metadata field (`metadata_<name>=<value>`); the
answer is `{"TotalCount", "Messages": [{"MessageID", "ReceivedAt", "Status", "Metadata", ...}]}`, newest first.
Pure: the query and the reading of the answer; the call is in `proxy`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.messaging.base import MessagingError, SendReceipt
from connectors.messaging.postmark.mapper import IDEMPOTENCY_METADATA

SEARCH_COUNT = 10  # one key names one message; a few more only to see a duplicate


def search_query(key: str, stream: str) -> dict[str, str | int]:
    return {"count": SEARCH_COUNT, "offset": 0, f"metadata_{IDEMPOTENCY_METADATA}": key, "messagestream": stream}


def received_at(value: Any) -> datetime:
    """`ReceivedAt` (ISO 8601 with offset, up to 7 decimals) as an aware time; now when it cannot be read."""
    if isinstance(value, str):
        text = value.strip()
        head, dot, rest = text.partition(".")
        if dot:  # Python reads at most 6 decimals: cut the fraction, keep the offset
            digits = len(rest) - len(rest.lstrip("0123456789"))
            text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if when.tzinfo is not None:
                return when
        except ValueError:
            pass
    return datetime.now(UTC)


def find_sent(answer: Any, key: str) -> SendReceipt | None:
    """Our message in a search answer: its receipt; None when Postmark has none with our key; a MessagingError
    when the answer is not Postmark's."""
    messages = answer.get("Messages") if isinstance(answer, dict) else None
    if not isinstance(messages, list):
        raise MessagingError("Postmark's message search answered without `Messages`; cannot tell", retryable=True)
    for message in messages:
        if not isinstance(message, dict):
            continue
        metadata = message.get("Metadata")
        if isinstance(metadata, dict) and metadata.get(IDEMPOTENCY_METADATA) == key and message.get("MessageID"):
            return SendReceipt(
                provider_message_id=str(message["MessageID"]), accepted_at=received_at(message.get("ReceivedAt"))
            )
    if messages or answer.get("TotalCount"):
        raise MessagingError("Postmark's message search found messages, none carrying our key", retryable=False)
    return None
