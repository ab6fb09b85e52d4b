"""Stripe payment connector, in the karrio layout: `units` (minor units per currency, refund statuses and
reasons), `mapper` (Stripe's objects to ours and our refund to Stripe's form), `error` (failed answers as
PaymentError) and `proxy` (the HTTP calls, `StripePayments`).

Every call is made with the merchant's own secret key (`credentials["secret_key"]`, read by the worker
from the variable the merchant's policy names): a PaymentIntent of another Stripe account answers 404
`resource_missing`, so a merchant can neither see nor refund another merchant's payment.
"""

from __future__ import annotations

from connectors.payments.stripe.proxy import StripePayments
from connectors.payments.stripe.units import currency_exponent, format_money, from_minor_units, to_minor_units

__all__ = ["StripePayments", "currency_exponent", "format_money", "from_minor_units", "to_minor_units"]
