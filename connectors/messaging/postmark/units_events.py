"""Postmark's webhook records -> our DeliveryStatus, and what each means for the address.

`RecordType` says which webhook it is: Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange. A
Bounce carries `Type` (and the number `TypeCode`) from Postmark's bounce types; a SubscriptionChange says
whether the address is now suppressed (`SuppressSending`) and why (`SuppressionReason`: HardBounce,
SpamComplaint, ManualSuppression). Anything not listed is accepted and ignored.
"""

from __future__ import annotations

from domain.delivery import DeliveryStatus, Suppress

Mapped = tuple[DeliveryStatus, Suppress]

RECORD_TYPES: dict[str, Mapped] = {
    "Delivery": (DeliveryStatus.DELIVERED, Suppress.NOTHING),
    "SpamComplaint": (DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING),
    "Open": (DeliveryStatus.OPENED, Suppress.NOTHING),
    "Click": (DeliveryStatus.CLICKED, Suppress.NOTHING),
}

# Bounce `Type` -> ours. Postmark stops sending to an address after a hard bounce, a bad address or a spam
# complaint, and so do we. Soft bounces and blocks say nothing lasting about the address.
BOUNCE_TYPES: dict[str, Mapped] = {
    "HardBounce": (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # TypeCode 1
    "BadEmailAddress": (DeliveryStatus.BOUNCED, Suppress.BOUNCED),  # 100000
    "SpamComplaint": (DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING),  # 100001
    "Unsubscribe": (DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),  # 16
    "Transient": (DeliveryStatus.DEFERRED, Suppress.NOTHING),  # 2
    "SoftBounce": (DeliveryStatus.BOUNCED, Suppress.NOTHING),  # 4096
    "DnsError": (DeliveryStatus.BOUNCED, Suppress.NOTHING),  # 256
    "Blocked": (DeliveryStatus.BOUNCED, Suppress.NOTHING),  # 100006
    "ManuallyDeactivated": (DeliveryStatus.FAILED, Suppress.NOTHING),  # 100002
    "SpamNotification": (DeliveryStatus.FAILED, Suppress.NOTHING),  # 512
    "VirusNotification": (DeliveryStatus.FAILED, Suppress.NOTHING),  # 16384
    "SMTPApiError": (DeliveryStatus.FAILED, Suppress.NOTHING),  # 100007
    "DMARCPolicy": (DeliveryStatus.FAILED, Suppress.NOTHING),  # 100009
    "TemplateRenderingFailed": (DeliveryStatus.FAILED, Suppress.NOTHING),  # 100010
}
# Not about delivery (an auto-reply, an address change notice, a challenge...): ignored.
IGNORED_BOUNCE_TYPES = frozenset(
    {
        "Subscribe",
        "AutoResponder",
        "AddressChange",
        "OpenRelayTest",
        "ChallengeVerification",
        "Unknown",
        "Unconfirmed",
        "InboundError",
    }
)
# The same by `TypeCode`, for a bounce whose Type name we do not know.
BOUNCE_CODES: dict[int, str] = {
    1: "HardBounce",
    2: "Transient",
    16: "Unsubscribe",
    256: "DnsError",
    512: "SpamNotification",
    4096: "SoftBounce",
    100000: "BadEmailAddress",
    100001: "SpamComplaint",
    100002: "ManuallyDeactivated",
    100006: "Blocked",
    100007: "SMTPApiError",
    100009: "DMARCPolicy",
    100010: "TemplateRenderingFailed",
}
# SubscriptionChange with SuppressSending true, by SuppressionReason. A manual suppression is the recipient
# unsubscribing (Origin "Recipient") or the merchant taking the address off (Origin "Customer"/"Admin"):
# either way, nothing more goes to it.
SUPPRESSION_REASONS: dict[str, Mapped] = {
    "HardBounce": (DeliveryStatus.BOUNCED, Suppress.BOUNCED),
    "SpamComplaint": (DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING),
    "ManualSuppression": (DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),
}


def map_bounce(bounce_type: str | None, type_code: int | None) -> Mapped | None:
    """Ours for a Bounce record; None for bounce types that are not about delivery."""
    name = bounce_type if bounce_type in BOUNCE_TYPES or bounce_type in IGNORED_BOUNCE_TYPES else None
    if name is None and type_code is not None:
        name = BOUNCE_CODES.get(type_code)
    if name is None or name in IGNORED_BOUNCE_TYPES:
        return None
    return BOUNCE_TYPES[name]


def map_subscription_change(suppress_sending: bool, reason: str | None) -> Mapped | None:
    """Ours for a SubscriptionChange; None for a reactivation (we do not lift our own suppression on it)."""
    if not suppress_sending:
        return None
    return SUPPRESSION_REASONS.get(reason or "", SUPPRESSION_REASONS["ManualSuppression"])
