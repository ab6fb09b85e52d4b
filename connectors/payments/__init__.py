"""Payment connectors (Stripe today) and the registry the refund activity looks providers up in."""

from __future__ import annotations

import httpx

from connectors.payments.base import PaymentError, PaymentProvider
from connectors.payments.stripe import StripePayments


def build_payments(
    stripe_base_url: str,
    stripe_api_key: str | None = None,
    *,
    http: httpx.AsyncClient | None = None,
) -> dict[str, PaymentProvider]:
    """Every configured provider by its `name` (the `provider` of a PaymentRef); the shell passes settings in.

    The worker gives no key: each merchant's comes with each call. `stripe_api_key` is for one-account tools."""
    providers: list[PaymentProvider] = [StripePayments(stripe_base_url, stripe_api_key, http=http)]
    return {p.name: p for p in providers}


__all__ = ["PaymentError", "PaymentProvider", "StripePayments", "build_payments"]
