"""What the API needs from the rest of the system, gathered in one object so tests can hand in their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from api.sessions import LoginLimiter, SessionPolicy
from connectors.carriers.base import CarrierClient
from connectors.messaging.callbacks import ProviderCallbacks
from policies.loader import LoadedPolicy
from storage.repository import Store


@dataclass
class Services:
    store: Store
    temporal: Client
    policies: Mapping[str, LoadedPolicy]
    carriers: Mapping[str, CarrierClient]
    task_queue: str
    temporal_ui_url: str | None = None
    namespace: str = "default"
    # Origins allowed to call /codec from a browser; none given: the Temporal Web UI's.
    codec_origins: frozenset[str] = field(default_factory=frozenset)
    # The console's sign-in: how long a session lives, how many attempts to sign in are let through.
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # where `policies` came from: `POST /v1/policies/reload` re-reads it (none: fixed policies, no reload)
    policy_dir: Path | None = None
    # messaging providers' delivery callbacks by name (`/v1/providers/{provider}/events`), and the scheme and host
    # they call us at when it is not what the API sees (behind a proxy: Twilio signs the URL it called)
    callbacks: Mapping[str, ProviderCallbacks] = field(default_factory=dict)
    public_base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.codec_origins:
            self.codec_origins = web_ui_origins(self.temporal_ui_url)


def web_ui_origins(temporal_ui_url: str | None) -> frozenset[str]:
    """The Web UI's origin as a browser sends it: both loopback spellings where it is local."""
    if not temporal_ui_url:
        return frozenset()
    origin = temporal_ui_url.rstrip("/")
    origins = {origin}
    for a, b in (("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")):
        if f"//{a}:" in origin:
            origins.add(origin.replace(f"//{a}:", f"//{b}:"))
    return frozenset(origins)
