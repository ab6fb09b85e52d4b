"""SendGrid's units table: what each failed answer of `POST /v3/mail/send` means for us.

SendGrid answers errors by HTTP status with `{"errors": [{"message", "field", "help"}]}`; there are no
numeric error codes, so the status decides, and the `field` tells a refused recipient (an address
SendGrid will not take, `personalizations.0.to.0.email`) from anything else in the request, which is
ours. Addresses on SendGrid's own suppression lists are accepted (202) and dropped later: that comes
back as a `dropped` event through the event webhook, not here.
"""

from __future__ import annotations

import re

from connectors.messaging.base import Refusal

STATUS: dict[int, Refusal] = {
    400: Refusal("configuration", "SendGrid refused the request (see the field it names)"),
    401: Refusal("configuration", "the API key is invalid, revoked or out of credits (check the SendGrid API key)"),
    403: Refusal(
        "configuration",
        "the From address is not a verified Sender Identity, or the key lacks the Mail Send permission",
    ),
    406: Refusal("configuration", "missing Accept header"),
    413: Refusal("configuration", "the message is too large (check the email template)"),
    415: Refusal("configuration", "unsupported media type"),
    429: Refusal("retry", "rate limited"),
    500: Refusal("retry", "SendGrid server error"),
    502: Refusal("retry", "SendGrid gateway error"),
    503: Refusal("retry", "SendGrid v3 Web API not available"),
    504: Refusal("retry", "SendGrid gateway timeout"),
}
# a 400 about the recipient's address: nothing we can change makes SendGrid take it
RECIPIENT_FIELD = re.compile(r"^personalizations\.\d+\.to(\.\d+(\.email)?)?$")
RECIPIENT_REFUSAL = Refusal("recipient", "SendGrid does not accept the recipient's address", "bounced")


def refusal_for(status: int, field: str | None) -> Refusal | None:
    if status == 400 and field and RECIPIENT_FIELD.match(field):
        return RECIPIENT_REFUSAL
    return STATUS.get(status) or (STATUS[500] if status >= 500 else None)
