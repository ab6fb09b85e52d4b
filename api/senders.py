"""Who a request acts as, for the signals it sends (`aftercare.senders` puts it on each signal).

A pure ASGI middleware gives every request a sender before any handler runs: the webhook that called
(`carrier webhook easypost`, `store webhook shopify`, from the path) or, until a token says otherwise,
`anonymous`. Authentication (`api.auth`) then names the acting token: `alice (support)`. So any route,
whoever may call it, sends signals that say who sent them.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from aftercare.senders import set_sender
from domain import Actor

ANONYMOUS = "anonymous (no token)"
_WEBHOOKS = (
    (re.compile(r"^/v1/carriers/([\w.-]{1,40})/events/?$"), "carrier webhook {}"),
    (re.compile(r"^/v1/webhooks/([\w.-]{1,40})(?:/.*)?$"), "store webhook {}"),
)


def actor_label(actor: Actor) -> str:
    """How a token's holder is named wherever we say who did something (the audit log does the same)."""
    return f"{actor.name} ({actor.role.value})"


def acting_as(actor: Actor) -> None:
    """The request acts as this token's holder from now on (called once the token is resolved)."""
    set_sender(actor_label(actor))


def sender_for_path(path: str) -> str:
    for pattern, label in _WEBHOOKS:
        if found := pattern.match(path):
            return label.format(found.group(1))
    return ANONYMOUS


class SenderMiddleware:
    """Sets the request's sender from its path before the app runs (each request is its own task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            set_sender(sender_for_path(scope.get("path", "")))
        await self.app(scope, receive, send)
