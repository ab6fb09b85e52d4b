"""Builds the real parts from settings: the store, connectors and activities (the Temporal client: temporal_client.py).

The one place that turns environment into objects, so `worker.py`, the API and the CLI agree.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from functools import partial
from typing import Any

from aftercare.settings import Settings

# the Temporal client is made in one place, aftercare/temporal_client.py; the old name still works
from aftercare.temporal_client import connect as connect_client  # noqa: F401
from domain import Channel


def open_store(settings: Settings) -> Any:
    """The store on AFTERCARE_DATABASE_URL, refusing a database whose schema is not this code's (behind: the
    message says to run `aftercare db upgrade`; only `aftercare up` upgrades by itself, before its children start)."""
    from storage import require_current
    from storage.repository import Store

    store = Store.open(settings.database_url, init=False)
    try:
        require_current(store.engine, url=settings.database_url)
    except BaseException:
        store.close()
        raise
    return store


def upgrade_database(settings: Settings) -> str:
    """Bring AFTERCARE_DATABASE_URL's schema to this code's head (`aftercare db upgrade`, `aftercare up`)."""
    from storage import make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


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


def build_callbacks(settings: Settings) -> dict[str, Any]:
    """Messaging providers' delivery callback parsers by name, with the verification secrets from settings."""
    from connectors.messaging.callbacks import CallbackSecrets
    from connectors.messaging.callbacks import build_callbacks as _build

    return _build(
        CallbackSecrets(
            sendgrid_public_key=settings.sendgrid_webhook_public_key,
            postmark_user=settings.postmark_webhook_user,
            postmark_password=settings.postmark_webhook_password,
            twilio_auth_token=settings.twilio_auth_token,
            whatsapp_app_secret=settings.whatsapp_app_secret,
            whatsapp_verify_token=settings.whatsapp_verify_token,
        )
    )


TWILIO_SANDBOX = {"TWILIO_ACCOUNT_SID": "ACsandbox0000000000000000000000000", "TWILIO_AUTH_TOKEN": "sandbox-token"}
"""The process-wide Twilio variables' values when unset: the sandbox's Twilio takes any token."""


def default_credentials(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The process-wide credentials per provider, for merchants whose policy names none for a channel."""
    env = TWILIO_SANDBOX | dict(os.environ if environ is None else environ)
    smtp = {k: v for k, v in (("username", settings.smtp_username), ("password", settings.smtp_password)) if v}
    return {
        "smtp": smtp | {"security": settings.smtp_security},
        "twilio": {"account_sid": env["TWILIO_ACCOUNT_SID"], "auth_token": env["TWILIO_AUTH_TOKEN"]},
        "sendgrid": {"api_key": settings.sendgrid_api_key},
        "postmark": {"server_token": settings.postmark_server_token},
        "whatsapp_cloud": {"access_token": settings.whatsapp_access_token},
    }


def build_senders(settings: Settings, http: Any = None) -> Any:
    """The worker's senders: the process-wide default per channel (SMTP, Twilio, Twilio), and each
    merchant's own provider and account as its policy names them (`activities.senders.SenderBook`).
    Credentials come from the environment, never from YAML; the TWILIO_* variables default to the sandbox's."""
    from activities.senders import SenderBook
    from connectors.messaging import Endpoints, build_sender

    endpoints = Endpoints(
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        twilio_base_url=settings.twilio_base_url,
        sendgrid_base_url=settings.sendgrid_base_url,
        postmark_base_url=settings.postmark_base_url,
        whatsapp_base_url=settings.whatsapp_base_url,
        whatsapp_version=settings.whatsapp_api_version,
        public_base_url=settings.public_base_url,
    )
    build = partial(build_sender, endpoints=endpoints, http=http)
    credentials = default_credentials(settings)
    defaults = {
        Channel.EMAIL: build(Channel.EMAIL, "smtp", "", credentials["smtp"]),
        Channel.SMS: build(Channel.SMS, "twilio", "", credentials["twilio"]),
        Channel.WHATSAPP: build(Channel.WHATSAPP, "twilio", "", credentials["twilio"]),
    }
    # a merchant's variables are read where the worker runs, with the sandbox's Twilio values as before
    return SenderBook(defaults, build, default_credentials=credentials, environ=_EnvWithTwilioDefaults())


class _EnvWithTwilioDefaults(Mapping[str, str]):
    """The live environment, plus the sandbox's values for the process-wide TWILIO_* variables when unset
    (they had these defaults before policies' credentials_env were honoured, and bundled policies name them)."""

    def __getitem__(self, name: str) -> str:
        value = os.environ.get(name)
        if value is None:
            return TWILIO_SANDBOX[name]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter({**TWILIO_SANDBOX, **os.environ})

    def __len__(self) -> int:
        return len({**TWILIO_SANDBOX, **os.environ})


def production_activities(settings: Settings) -> tuple[list[Callable[..., Any]], Callable[[], Awaitable[None]]]:
    """The worker's activities wired to the real store and connectors, and how to close them."""
    from activities.audit import AuditActivities
    from activities.messaging import MessagingActivities
    from activities.payments import PaymentActivities
    from activities.retention import RetentionActivities
    from activities.returns import ReturnActivities
    from activities.templates import TemplateRenderer
    from activities.tracking import TrackingActivities

    store = open_store(settings)
    carriers = build_carriers(settings)
    providers = build_payments(settings)
    senders = build_senders(settings)
    messaging = MessagingActivities(store, senders, TemplateRenderer(settings.templates_dir))
    tracking = TrackingActivities(store, carriers)
    payments = PaymentActivities(providers)
    returns = ReturnActivities(carriers)
    audit = AuditActivities(store)
    retention = RetentionActivities(store, settings.retention_days)

    async def close() -> None:
        for client in [*carriers.values(), *providers.values()]:
            await client.aclose()
        await senders.aclose()
        store.close()

    activities: list[Callable[..., Any]] = [
        messaging.send_message,
        tracking.poll_carrier,
        payments.look_up_payment,
        payments.issue_refund,
        payments.find_refund,
        returns.create_return_label,
        audit.record_action,
        retention.prune_expired,
    ]
    return activities, close
