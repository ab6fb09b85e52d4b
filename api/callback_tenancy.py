"""Whose secret checks a delivery callback, and whose messages it may touch.

A merchant on its own provider account names that account's callback secret in its policy
(`channels.<channel>.webhook_secret_env`; for Twilio the channel's `credentials_env.auth_token` already is one) and
gives the provider a callback URL ending `?merchant_id=<merchant>`. Such a callback is checked with that merchant's
secret, read from the API's environment, and its events touch that merchant's messages only: a merchant who knows
its own secret cannot report on another's messages. A merchant id we do not know, or whose variable the API lacks,
is checked against secrets nobody holds, so the answer is exactly a bad signature's (401) and says nothing about
which merchants exist; the missing variable is logged, by name. A known merchant that names no secret of its own
for the provider is checked with the process-wide secret, still scoped to its messages. No `merchant_id`: the
process-wide secret, any message (the operator's shared accounts).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from connectors.messaging.callbacks import ProviderCallbacks, build_callbacks, merchant_secrets, refusing_secrets
from policies.schema import Policy

log = logging.getLogger("aftercare.api.providers")
MERCHANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Verifier:
    """How to read one callback, and the merchant whose messages its events may touch (None: any)."""

    callbacks: ProviderCallbacks
    merchant_id: str | None


def own_secret_names(policy: Policy, provider: str) -> dict[str, str] | None:
    """The variables holding the merchant's own callback secret for `provider`, None when it names none."""
    for config in policy.channels.values():
        if config.provider != provider:
            continue
        if config.webhook_secret_env:
            return dict(config.webhook_secret_env)
        if provider == "twilio" and "auth_token" in config.credentials_env:
            return {"auth_token": config.credentials_env["auth_token"]}
    return None


def verifier_for(
    process_wide: ProviderCallbacks,
    policies: Mapping[str, object],
    provider: str,
    merchant_id: str | None,
    environ: Mapping[str, str] | None = None,
) -> Verifier:
    """The verifier for a callback of `provider` that names `merchant_id` (or none); see the module docstring."""
    if merchant_id is None:
        return Verifier(process_wide, None)
    loaded = policies.get(merchant_id) if MERCHANT_ID.match(merchant_id) else None
    policy = getattr(loaded, "policy", None)
    if not isinstance(policy, Policy):
        return Verifier(build_callbacks(refusing_secrets())[provider], merchant_id)
    names = own_secret_names(policy, provider)
    if names is None:
        return Verifier(process_wide, merchant_id)
    env = os.environ if environ is None else environ
    unset = sorted(var for var in names.values() if not env.get(var))
    if unset:
        log.warning(
            "merchant %s's %s callback secret is not set on the API: %s (named by its policy); refusing its callbacks",
            merchant_id, provider, ", ".join(unset),
        )  # fmt: skip
        return Verifier(build_callbacks(refusing_secrets())[provider], merchant_id)
    own = merchant_secrets(provider, {name: env[var] for name, var in names.items()})
    return Verifier(build_callbacks(own)[provider], merchant_id)
