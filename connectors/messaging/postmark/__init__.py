"""Email through Postmark's Email API: `units` (ErrorCode -> outcome), `models`, `mapper`
(OutgoingMessage -> Email body), `error`, `proxy` (`PostmarkSender`).

`POST {base}/email`, header `X-Postmark-Server-Token`, JSON `From` / `To` / `Subject` / `TextBody` /
`HtmlBody` / `MessageStream`, our idempotency key in `Metadata`; `MessageID` on success, `ErrorCode`
and `Message` on failure.

Delivery callbacks: `webhook` (verify, then parse) and `units_events` (their words -> our delivery status).
"""

from __future__ import annotations

from connectors.messaging.postmark.mapper import DEFAULT_STREAM, IDEMPOTENCY_METADATA, email
from connectors.messaging.postmark.proxy import TOKEN_HEADER, PostmarkSender
from connectors.messaging.postmark.units import CODES, refusal_for

__all__ = ["CODES", "DEFAULT_STREAM", "IDEMPOTENCY_METADATA", "TOKEN_HEADER", "PostmarkSender", "email", "refusal_for"]
