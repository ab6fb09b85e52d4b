"""Email through SendGrid's v3 Mail Send API: `units` (HTTP status -> outcome), `models`, `mapper`
(OutgoingMessage -> Mail Send body), `error`, `proxy` (`SendGridSender`).

`POST {base}/v3/mail/send`, `Authorization: Bearer <API key>`, JSON `personalizations` / `from` /
`subject` / `content`, our idempotency key in `custom_args`; 202 and `X-Message-Id` on success.

Delivery callbacks: `webhook` (verify, then parse) and `units_events` (their words -> our delivery status).
"""

from __future__ import annotations

from connectors.messaging.sendgrid.mapper import IDEMPOTENCY_ARG, mail_send
from connectors.messaging.sendgrid.proxy import SendGridSender
from connectors.messaging.sendgrid.units import STATUS, refusal_for

__all__ = ["IDEMPOTENCY_ARG", "STATUS", "SendGridSender", "mail_send", "refusal_for"]
