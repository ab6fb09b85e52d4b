"""What the API needs from the rest of the system, gathered in one object so tests can hand in their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from temporalio.client import Client

from connectors.carriers.base import CarrierClient
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
