"""Which sender sends a message: the merchant's own provider account, or the worker's default.

A message request names the provider its merchant's policy picked for the channel and the environment
variables holding that merchant's credentials (names only: the values never enter a workflow's history).
The book reads those variables when the message is sent, builds the connector once per distinct
(channel, provider, credentials) and reuses it, so two merchants on one worker send from their own
accounts and switching provider is a policy change. A request that names no provider (journeys started
before providers were per merchant) or no variables uses the worker's process-wide default credentials.

A variable the policy names but the worker does not have is a configuration error naming the variable,
never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from connectors.messaging.base import MessageSender, MessagingError, OutgoingTemplate
from domain import Channel, MessageRequest, ProviderTemplate

Build = Callable[[Channel, str, str, dict[str, str]], MessageSender]
"""(channel, provider, sender, credentials) -> a sender; raises ValueError for what cannot work."""
MISSING = "-"  # what a template parameter says when the context has no value for it (WhatsApp refuses empty text)


class SenderBook:
    """The senders a worker sends through. `defaults` are the process-wide senders per channel; `build`
    makes a merchant's own (None: every message goes through the defaults); `default_credentials` are
    the process-wide credentials per provider, used when a policy names none; `environ` is where the
    merchants' variables are read (the worker's environment by default)."""

    def __init__(
        self,
        defaults: Mapping[Channel, MessageSender],
        build: Build | None = None,
        *,
        default_credentials: Mapping[str, Mapping[str, str]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._defaults = defaults
        self._build = build
        self._default_credentials = default_credentials or {}
        self._environ = os.environ if environ is None else environ
        self._built: dict[tuple[Any, ...], MessageSender] = {}

    def provider_name(self, req: MessageRequest) -> str:
        """Who sends this request, for error messages, before a sender could be found."""
        default = self._defaults.get(req.channel)
        if req.provider and self._build is not None:
            return req.provider
        return getattr(default, "provider", req.provider or "no provider")

    def sender_for(self, req: MessageRequest) -> MessageSender | None:
        """The sender for this request; None when the worker has none for the channel. Raises a
        non-retryable MessagingError (a configuration error) for credentials it cannot find or use."""
        if not req.provider or self._build is None:
            return self._defaults.get(req.channel)
        credentials = self._credentials(req)
        key = (req.channel, req.provider, tuple(sorted(credentials.items())))
        sender = self._built.get(key)
        if sender is None:
            try:
                sender = self._build(req.channel, req.provider, req.sender or "", credentials)
            except ValueError as exc:
                raise MessagingError(
                    f"merchant {req.merchant_id}'s {req.channel.value} provider cannot be set up: {exc}",
                    retryable=False,
                ) from None
            self._built[key] = sender
        return sender

    def _credentials(self, req: MessageRequest) -> dict[str, str]:
        assert req.provider is not None
        if not req.credentials_env:
            return dict(self._default_credentials.get(req.provider, {}))
        unset = sorted(var for var in req.credentials_env.values() if not self._environ.get(var))
        if unset:
            raise MessagingError(
                f"merchant {req.merchant_id}'s {req.provider} credentials for {req.channel.value} are not set on the"
                f" worker: {', '.join(unset)} (named by the policy's channels.{req.channel.value}.credentials_env)",
                retryable=False,
            )
        return {name: self._environ[var] for name, var in req.credentials_env.items()}

    async def aclose(self) -> None:
        for sender in [*self._built.values(), *self._defaults.values()]:
            close = getattr(sender, "aclose", None)
            if close is not None:
                await close()


def outgoing_template(template: ProviderTemplate | None, context: Mapping[str, Any]) -> OutgoingTemplate | None:
    """The policy's template with its parameters read from the message's context, in order."""
    if template is None:
        return None
    return OutgoingTemplate(
        name=template.name,
        language=template.language,
        parameters=[_lookup(context, path) for path in template.parameters],
    )


def _lookup(context: Mapping[str, Any], path: str) -> str:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"\d+", part) and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    if value is None or value == "" or isinstance(value, Mapping | list):
        return MISSING
    return str(value)
