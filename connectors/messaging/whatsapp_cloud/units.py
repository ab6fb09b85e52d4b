"""WhatsApp Cloud API's units table: the Graph API error `code` and what it means for us.

Meta asks integrators to decide on `error.code` (not the HTTP status, not the deprecated
`error_subcode`). Codes not listed fall back on the HTTP status (429 and 5xx retryable, the rest ours).
"""

from __future__ import annotations

from connectors.messaging.base import Refusal

CODES: dict[int, Refusal] = {
    # authorization and account: someone has to fix the setup
    0: Refusal("configuration", "could not authenticate (renew the WhatsApp access token)"),
    3: Refusal("configuration", "the app lacks a capability or permission (check the token's permissions)"),
    10: Refusal("configuration", "permission not granted or removed (check the token's permissions)"),
    33: Refusal("configuration", "the business phone number was deleted (check the phone number ID)"),
    100: Refusal("configuration", "invalid parameter (check the phone number ID and the request)"),
    190: Refusal("configuration", "the access token has expired (renew the WhatsApp access token)"),
    368: Refusal("configuration", "the WhatsApp Business Account is blocked for policy violations"),
    130497: Refusal("configuration", "the business account may not message users in this country"),
    131008: Refusal("configuration", "a required parameter is missing"),
    131009: Refusal("configuration", "a parameter value is not valid"),
    131030: Refusal("configuration", "the recipient is not in the test number's allowed list"),
    131031: Refusal("configuration", "the business account is locked"),
    131042: Refusal("configuration", "a problem with the business account's payment method"),
    131047: Refusal("configuration", "more than 24 hours since the customer last wrote: a template is required"),
    131051: Refusal("configuration", "unsupported message type"),
    132000: Refusal("configuration", "the number of template parameters does not match the approved template"),
    132001: Refusal("configuration", "the template does not exist in this language (check the policy's template)"),
    132005: Refusal("configuration", "the template's text with its parameters is too long"),
    132007: Refusal("configuration", "the template's format breaks WhatsApp policy"),
    132012: Refusal("configuration", "a template parameter has the wrong format"),
    132015: Refusal("configuration", "the template is paused for low quality"),
    132016: Refusal("configuration", "the template is disabled for low quality"),
    133010: Refusal("configuration", "the business phone number is not registered on WhatsApp"),
    # the recipient cannot get it
    131021: Refusal("recipient", "the recipient is the sender's own number"),
    131026: Refusal(
        "recipient", "message undeliverable (the number is not on WhatsApp, or cannot receive it)", "bounced"
    ),
    131049: Refusal("recipient", "Meta chose not to deliver this message to this user for now"),
    131050: Refusal("recipient", "the user stopped marketing messages from this business", "opted_out"),
    # asking again later can help
    1: Refusal("retry", "unknown error, possibly a server error"),
    2: Refusal("retry", "the service is temporarily unavailable"),
    4: Refusal("retry", "the app reached its API call rate limit"),
    80007: Refusal("retry", "the WhatsApp Business Account reached its rate limit"),
    130429: Refusal("retry", "throughput limit reached (rate limited)"),
    131000: Refusal("retry", "something went wrong on WhatsApp's side"),
    131016: Refusal("retry", "the service is overloaded"),
    131048: Refusal("retry", "spam rate limit hit"),
    131056: Refusal("retry", "too many messages to this user in a short time"),
}  # fmt: skip


def refusal_for(code: int | None) -> Refusal | None:
    return CODES.get(code) if code is not None else None
