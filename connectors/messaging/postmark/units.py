"""Postmark's units table: the API error codes (`ErrorCode` in the answer) and what they mean for us.

Postmark answers 401 for a missing or wrong server token, 422 with `{"ErrorCode", "Message"}` for a
message it will not take, 429 when rate limited and 500 for its own failures. The code decides; codes
not listed here fall back on the HTTP status (429 and 5xx retryable, the rest ours to fix).
"""

from __future__ import annotations

import re

from connectors.messaging.base import Refusal

CODES: dict[int, Refusal] = {
    10: Refusal("configuration", "bad or missing server API token (check the Postmark server token)"),
    100: Refusal("retry", "Postmark is down for maintenance"),
    300: Refusal("configuration", "invalid email request (see Postmark's message)"),
    400: Refusal("configuration", "sender signature not found (verify the From address or domain in Postmark)"),
    401: Refusal("configuration", "sender signature not confirmed (confirm the From address in Postmark)"),
    402: Refusal("configuration", "invalid JSON"),
    403: Refusal("configuration", "incompatible JSON"),
    405: Refusal("configuration", "not allowed to send (the Postmark account has run out of credits)"),
    406: Refusal(
        "recipient", "inactive recipient (Postmark deactivated the address after a hard bounce or spam complaint)",
        "bounced",
    ),
    409: Refusal("configuration", "JSON required"),
    411: Refusal("configuration", "forbidden attachment type"),
    412: Refusal("configuration", "the Postmark account is pending approval"),
    413: Refusal("configuration", "the Postmark account may not send"),
    429: Refusal("retry", "rate limit exceeded"),
    1235: Refusal("configuration", "message stream not found (check the Postmark message stream)"),
}  # fmt: skip
# ErrorCode 300 is Postmark's catch-all for a request it will not take; when its message blames the
# recipient's address ("Error parsing 'To': Illegal email address ..."), nothing on our side makes it
# deliverable.
RECIPIENT_300 = re.compile(r"'To'")
RECIPIENT_REFUSAL = Refusal("recipient", "Postmark does not accept the recipient's address", "bounced")


def refusal_for(code: int | None, message: str) -> Refusal | None:
    if code == 300 and RECIPIENT_300.search(message):
        return RECIPIENT_REFUSAL
    return CODES.get(code) if code is not None else None
