"""`aftercare up` hands the sandbox what it signs messaging delivery callbacks with, and the API what checks them:
the same Postmark pair and WhatsApp app secret, SendGrid's key pair split between them (made once, kept private),
and a real provider's secret from the environment wins."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aftercare.callback_keys import KEY_FILE
from aftercare.settings import Settings
from aftercare.stack import plan_children
from connectors.messaging.sendgrid import webhook as sendgrid
from sandbox.delivery_callbacks import sendgrid_requests
from sandbox.state import SandboxState

MAIL = {"personalizations": [{"to": [{"email": "ada@example.com"}]}], "custom_args": {"aftercare_key": "k-1"}}


def children(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    planned = {child.name: child for child in plan_children(settings)}
    return planned["sandbox"].env, planned["api"].env


def test_the_sandbox_signs_sendgrid_events_with_the_key_the_api_checks(tmp_path: Path) -> None:
    settings = Settings().model_copy(update=dict(home=tmp_path, sendgrid_webhook_public_key=""))
    sandbox_env, api_env = children(settings)
    state = SandboxState(sendgrid_signing_key=sandbox_env["AFTERCARE_SANDBOX_SENDGRID_SIGNING_KEY"])

    [(body, headers)] = sendgrid_requests(state, "delivered", message_id="m-1", body=MAIL)

    events = sendgrid.parse(body, headers, api_env["AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"])
    assert [e.idempotency_key for e in events] == ["k-1", "k-1"]
    key_file = tmp_path / "sandbox" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # made once: a restart keeps the pair, so callbacks in flight still verify
    assert (
        children(settings)[1]["AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"]
        == api_env["AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"]
    )
    assert not [
        a for a in plan_children(settings)[1].argv if sandbox_env["AFTERCARE_SANDBOX_SENDGRID_SIGNING_KEY"] in a
    ]


def test_the_other_secrets_are_the_same_on_both_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    sandbox_env, api_env = children(
        Settings().model_copy(update=dict(home=tmp_path, postmark_webhook_password="", twilio_auth_token=""))
    )
    for name in (
        "AFTERCARE_POSTMARK_WEBHOOK_USER",
        "AFTERCARE_POSTMARK_WEBHOOK_PASSWORD",
        "AFTERCARE_WHATSAPP_APP_SECRET",
    ):
        assert sandbox_env[name] and sandbox_env[name] == api_env[name]
    assert api_env["AFTERCARE_TWILIO_AUTH_TOKEN"] == "sandbox-token"  # the worker's Twilio token when unset
    assert api_env["TWILIO_AUTH_TOKEN"] == "sandbox-token"  # what the bundled policies name as their own token


def test_a_real_providers_key_wins_and_no_pair_is_made(tmp_path: Path) -> None:
    settings = Settings().model_copy(
        update=dict(home=tmp_path, sendgrid_webhook_public_key="MFkw-real-key", whatsapp_app_secret="real")
    )
    sandbox_env, api_env = children(settings)
    assert api_env["AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"] == "MFkw-real-key"
    assert "AFTERCARE_SANDBOX_SENDGRID_SIGNING_KEY" not in sandbox_env
    assert api_env["AFTERCARE_WHATSAPP_APP_SECRET"] == "real"
    assert not (tmp_path / "sandbox" / KEY_FILE).exists()
