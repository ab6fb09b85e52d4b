"""Builds the real parts from settings: the Temporal client, the store, connectors and activities.

The one place that turns environment into objects, so `worker.py`, the API and the CLI agree.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter

from aftercare.codec import data_converter, load_keys
from aftercare.senders import SenderInterceptor
from aftercare.settings import Settings
from domain import Channel

log = logging.getLogger("aftercare.runtime")


def temporal_converter(settings: Settings) -> DataConverter:
    """The one data converter the worker, API, CLI and replayer use: pydantic, encrypted (`aftercare.codec`)."""
    return data_converter(load_keys(settings.home))


def client_identity(component: str) -> str:
    """What Temporal records as the sender of this process's calls: `aftercare-api@host`, not `10483@vm`."""
    return f"aftercare-{component}@{socket.gethostname()}"


def client_interceptors(converter: DataConverter) -> list[Interceptor]:
    """Every client adds who sent a signal or start (`aftercare.senders`), so the timeline can say it."""
    return [SenderInterceptor(converter)]


async def connect_client(
    settings: Settings,
    *,
    component: str,
    retry_max_delay: float = 30.0,
    give_up_after: float | None = None,
) -> Client:
    """Connect to Temporal, waiting for it with capped back-off (a worker or API started before Temporal
    waits instead of exiting), and saying each time what it waits for. `give_up_after` seconds: then raise."""
    converter = temporal_converter(settings)
    delay, waited = 0.5, 0.0
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.namespace,
                data_converter=converter,
                interceptors=client_interceptors(converter),
                identity=client_identity(component),
            )
        except RuntimeError as err:  # the SDK's "Failed client connect: ..." when nothing answers
            if give_up_after is not None and waited >= give_up_after:
                raise
            log.warning(
                "waiting for Temporal at %s (namespace %s): not reachable yet (%s); retrying in %.1fs",
                settings.temporal_address,
                settings.namespace,
                _reason(err),
                delay,
            )
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, retry_max_delay)


def _reason(err: Exception) -> str:
    """The last part of the SDK's nested connect error (e.g. "Connection refused"), one line."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    found = re.search(r'message: "([^"]+)"', text)
    return found.group(1) if found else text[:160]


def open_store(settings: Settings) -> Any:
    from storage.repository import Store

    return Store.open(settings.database_url)


def build_carriers(settings: Settings) -> dict[str, Any]:
    from connectors.carriers import build_carriers as _build

    return _build(
        settings.easypost_base_url,
        settings.easypost_api_key,
        settings.easypost_webhook_secret,
        aftership_base_url=settings.aftership_base_url,
        aftership_api_key=settings.aftership_api_key,
        aftership_webhook_secret=settings.aftership_webhook_secret,
        shippo_base_url=settings.shippo_base_url,
        shippo_api_key=settings.shippo_api_key,
        shippo_webhook_secret=settings.shippo_webhook_secret,
        seventeentrack_base_url=settings.seventeentrack_base_url,
        seventeentrack_api_key=settings.seventeentrack_api_key,
        seventeentrack_webhook_secret=settings.seventeentrack_webhook_secret,
    )


def build_payments(settings: Settings) -> dict[str, Any]:
    """Payment providers by name (Stripe). Only the worker needs them: refunds are activities. No key here:
    each merchant's is read, per call, from the environment variable its policy's payments.credentials_env names."""
    from connectors.payments import build_payments as _build

    return _build(settings.stripe_base_url)


def build_senders(settings: Settings) -> dict[Channel, Any]:
    """Provider connectors per channel. Twilio credentials come from the environment, never from YAML."""
    from connectors.messaging import build_sender

    twilio = {
        "account_sid": os.environ.get("TWILIO_ACCOUNT_SID", "ACsandbox0000000000000000000000000"),
        "auth_token": os.environ.get("TWILIO_AUTH_TOKEN", "sandbox-token"),
    }
    smtp = {k: v for k in ("username", "password") if (v := os.environ.get(f"AFTERCARE_SMTP_{k.upper()}"))}
    common = partial(
        build_sender,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        twilio_base_url=settings.twilio_base_url,
    )
    return {
        Channel.EMAIL: common(Channel.EMAIL, "smtp", "", smtp),
        Channel.SMS: common(Channel.SMS, "twilio", "", twilio),
        Channel.WHATSAPP: common(Channel.WHATSAPP, "twilio", "", twilio),
    }


def production_activities(settings: Settings) -> tuple[list[Callable[..., Any]], Callable[[], Awaitable[None]]]:
    """The worker's activities wired to the real store and connectors, and how to close them."""
    from activities.audit import AuditActivities
    from activities.messaging import MessagingActivities
    from activities.payments import PaymentActivities
    from activities.returns import ReturnActivities
    from activities.templates import TemplateRenderer
    from activities.tracking import TrackingActivities

    store = open_store(settings)
    carriers = build_carriers(settings)
    providers = build_payments(settings)
    messaging = MessagingActivities(store, build_senders(settings), TemplateRenderer(settings.templates_dir))
    tracking = TrackingActivities(store, carriers)
    payments = PaymentActivities(providers)
    returns = ReturnActivities(carriers)
    audit = AuditActivities(store)

    async def close() -> None:
        for client in [*carriers.values(), *providers.values()]:
            await client.aclose()
        store.close()

    activities: list[Callable[..., Any]] = [
        messaging.send_message,
        tracking.poll_carrier,
        payments.look_up_payment,
        payments.issue_refund,
        payments.find_refund,
        returns.create_return_label,
        audit.record_action,
    ]
    return activities, close
