"""The side effects workflows ask for. Thin: each activity calls a connector or storage, and the
deciding lives in small pure functions next to it.

Register the bound methods with the worker, e.g.
`Worker(..., activities=[messaging.send_message, tracking.poll_carrier, payments.issue_refund])`.
"""

from activities.messaging import MessagingActivities
from activities.payments import PaymentActivities
from activities.returns import ReturnActivities
from activities.templates import RenderedMessage, TemplateError, TemplateNotFoundError, TemplateRenderer
from activities.tracking import TrackingActivities

__all__ = [
    "MessagingActivities",
    "PaymentActivities",
    "RenderedMessage",
    "ReturnActivities",
    "TemplateError",
    "TemplateNotFoundError",
    "TemplateRenderer",
    "TrackingActivities",
]
