"""A WooCommerce delivery we refuse, with the HTTP status the route answers and a message naming the problem.

Messages name fields and headers, never their values: a body holds a customer's name, email and address,
and a header may hold a signature.
"""

from __future__ import annotations


class WooCommerceWebhookError(ValueError):
    """401 for a signature we cannot accept (nothing else is read), 400 for a body we cannot use,
    413 for one larger than any order."""

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def refused(message: str) -> WooCommerceWebhookError:
    return WooCommerceWebhookError(message, status_code=401)


def unusable(message: str) -> WooCommerceWebhookError:
    return WooCommerceWebhookError(message, status_code=400)
