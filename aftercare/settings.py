"""Every knob Aftercare reads, from environment variables with defaults that run the embedded stack.

Read once at start-up by the shell (`aftercare`, `worker.py`, the API); rooms below get what they
need passed in, so nothing deep in the code reads the environment behind your back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_STRIPE_KEY_ENV = "DEMO_STRIPE_SECRET_KEY"
"""The variable the bundled demo policy's `payments.credentials_env.secret_key` names."""
DEMO_SHOPIFY_SECRET_ENV = "SHOPIFY_DEMO_WEBHOOK_SECRET"
"""The variable the bundled demo policy's `store.webhook_secret_env` names."""
# AFTERCARE_RETENTION_DAYS bounds (privacy): below the floor a store's retried webhook or a running journey's records
# could be pruned; Temporal Cloud accepts namespace retention of 1 to 90 days, so that is what we ask any Temporal for.
MIN_RETENTION_DAYS = 30
MAX_NAMESPACE_RETENTION_DAYS = 90


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} must be a whole number") from None


def _switch(name: str) -> bool | None:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise SystemExit(f"{name}={raw!r} must be on or off")


def _path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _secret(name: str) -> str:
    """A secret from `NAME`, or from the file `NAME_FILE` names (a mounted secret); never both."""
    value, file = os.environ.get(name, ""), os.environ.get(f"{name}_FILE", "").strip()
    if value and file:
        raise SystemExit(f"{name} and {name}_FILE are both set; set one of them")
    if not file:
        return value.strip()
    try:
        secret = Path(file).expanduser().read_text().strip()
    except OSError as err:
        raise SystemExit(f"{name}_FILE={file!r} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise SystemExit(f"{name}_FILE={file!r} is not a text file") from None
    if not secret:
        raise SystemExit(f"{name}_FILE={file!r} is empty")
    return secret


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(_env("AFTERCARE_HOME", str(REPO_ROOT / ".aftercare"))))
    database_url: str = ""
    policy_dir: Path = field(
        default_factory=lambda: Path(_env("AFTERCARE_POLICY_DIR", str(REPO_ROOT / "policies" / "bundled")))
    )
    templates_dir: Path = field(
        default_factory=lambda: Path(_env("AFTERCARE_TEMPLATES_DIR", str(REPO_ROOT / "templates")))
    )
    # Temporal
    temporal_host: str = field(default_factory=lambda: _env("AFTERCARE_TEMPORAL_HOST", "127.0.0.1"))
    temporal_port: int = field(default_factory=lambda: _int("AFTERCARE_TEMPORAL_PORT", 7233))
    temporal_ui_port: int = field(default_factory=lambda: _int("AFTERCARE_TEMPORAL_UI_PORT", 8233))
    namespace: str = field(default_factory=lambda: _env("AFTERCARE_NAMESPACE", "default"))
    # Any other Temporal (a cluster, Temporal Cloud): its host:port, and how to reach it
    # (aftercare/temporal_client.py builds the connection from these). Empty: TEMPORAL_HOST:PORT, plain.
    temporal_target: str = field(default_factory=lambda: _env("AFTERCARE_TEMPORAL_ADDRESS", "").strip())
    # on/off; unset: on as soon as a certificate, CA, server name or API key is given
    temporal_tls: bool | None = field(default_factory=lambda: _switch("AFTERCARE_TEMPORAL_TLS"))
    temporal_tls_cert: Path | None = field(default_factory=lambda: _path("AFTERCARE_TEMPORAL_TLS_CERT"))
    temporal_tls_key: Path | None = field(default_factory=lambda: _path("AFTERCARE_TEMPORAL_TLS_KEY"))
    temporal_tls_ca: Path | None = field(default_factory=lambda: _path("AFTERCARE_TEMPORAL_TLS_CA"))
    temporal_tls_server_name: str = field(default_factory=lambda: _env("AFTERCARE_TEMPORAL_TLS_SERVER_NAME", ""))
    # its Web UI, for the console's links and /codec's CORS (Temporal Cloud: https://cloud.temporal.io)
    temporal_ui_target: str = field(default_factory=lambda: _env("AFTERCARE_TEMPORAL_UI_URL", "").strip().rstrip("/"))
    # Temporal Cloud's API key (or AFTERCARE_TEMPORAL_API_KEY_FILE: a file holding it); a secret
    temporal_api_key: str = field(default_factory=lambda: _secret("AFTERCARE_TEMPORAL_API_KEY"), repr=False)
    task_queue: str = field(default_factory=lambda: _env("AFTERCARE_TASK_QUEUE", "aftercare"))
    # browser origins allowed to call /codec (comma-separated); none: the Temporal Web UI's own
    codec_cors_origins: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            o.strip() for o in _env("AFTERCARE_CODEC_CORS_ORIGINS", "").split(",") if o.strip()
        )
    )
    # API; the console's sessions end after this long without a request, and this long after sign-in
    console_session_idle_minutes: int = field(
        default_factory=lambda: _int("AFTERCARE_CONSOLE_SESSION_IDLE_MINUTES", 60)
    )
    console_session_hours: int = field(default_factory=lambda: _int("AFTERCARE_CONSOLE_SESSION_HOURS", 12))
    # console sign-in attempts let through per minute, from one client address and from everyone
    console_logins_per_minute: int = field(default_factory=lambda: _int("AFTERCARE_CONSOLE_LOGINS_PER_MINUTE", 10))
    console_logins_overall_per_minute: int = field(
        default_factory=lambda: _int("AFTERCARE_CONSOLE_LOGINS_OVERALL_PER_MINUTE", 60)
    )
    api_host: str = field(default_factory=lambda: _env("AFTERCARE_API_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: _int("AFTERCARE_API_PORT", 8000))
    # the largest request body the API reads (bytes); larger ones answer 413 before they are read
    max_body_bytes: int = field(default_factory=lambda: _int("AFTERCARE_MAX_BODY_BYTES", 1024 * 1024))
    # Sandbox stand-ins (and where the connectors point by default in the embedded stack)
    sandbox_host: str = field(default_factory=lambda: _env("AFTERCARE_SANDBOX_HOST", "127.0.0.1"))
    sandbox_port: int = field(default_factory=lambda: _int("AFTERCARE_SANDBOX_PORT", 8025))
    smtp_host: str = field(default_factory=lambda: _env("AFTERCARE_SMTP_HOST", "127.0.0.1"))
    smtp_port: int = field(default_factory=lambda: _int("AFTERCARE_SMTP_PORT", 2525))
    easypost_base_url: str = ""
    easypost_api_key: str = field(default_factory=lambda: _env("AFTERCARE_EASYPOST_API_KEY", "sandbox-key"))
    easypost_webhook_secret: str = field(
        default_factory=lambda: _env("AFTERCARE_EASYPOST_WEBHOOK_SECRET", "sandbox-webhook-secret")
    )
    aftership_base_url: str = ""
    aftership_api_key: str = field(
        default_factory=lambda: _env("AFTERCARE_AFTERSHIP_API_KEY", "sandbox-key"), repr=False
    )
    aftership_webhook_secret: str = field(
        default_factory=lambda: _env("AFTERCARE_AFTERSHIP_WEBHOOK_SECRET", "sandbox-aftership-webhook-secret"),
        repr=False,
    )
    shippo_base_url: str = ""
    shippo_api_key: str = field(
        default_factory=lambda: _env("AFTERCARE_SHIPPO_API_KEY", "shippo_test_sandbox"), repr=False
    )
    # Shippo's webhook secret: its HMAC key (Shippo-Auth-Signature) and the ?token= in the webhook URL
    shippo_webhook_secret: str = field(
        default_factory=lambda: _env("AFTERCARE_SHIPPO_WEBHOOK_SECRET", "sandbox-shippo-webhook-secret"), repr=False
    )
    seventeentrack_base_url: str = ""
    seventeentrack_api_key: str = field(
        default_factory=lambda: _env("AFTERCARE_17TRACK_API_KEY", "sandbox-17track-key"), repr=False
    )
    # 17TRACK's "security key", which signs its pushes (the `sign` header)
    seventeentrack_webhook_secret: str = field(
        default_factory=lambda: _env("AFTERCARE_17TRACK_WEBHOOK_SECRET", "sandbox-17track-security-key"), repr=False
    )
    twilio_base_url: str = ""
    stripe_base_url: str = ""
    # Email and WhatsApp APIs. The keys are the process-wide defaults, used for merchants whose policy
    # names no credentials_env of its own for the channel; secrets, kept out of repr().
    smtp_security: str = field(default_factory=lambda: _env("AFTERCARE_SMTP_SECURITY", "none"))
    sendgrid_base_url: str = ""
    sendgrid_api_key: str = field(default_factory=lambda: _env("AFTERCARE_SENDGRID_API_KEY", "SG.sandbox"), repr=False)
    postmark_base_url: str = ""
    postmark_server_token: str = field(
        default_factory=lambda: _env("AFTERCARE_POSTMARK_SERVER_TOKEN", "sandbox-server-token"), repr=False
    )
    whatsapp_base_url: str = ""
    whatsapp_api_version: str = field(default_factory=lambda: _env("AFTERCARE_WHATSAPP_API_VERSION", "v21.0"))
    whatsapp_access_token: str = field(
        default_factory=lambda: _env("AFTERCARE_WHATSAPP_ACCESS_TOKEN", "sandbox-access-token"), repr=False
    )
    # The demo merchant's Stripe key in the embedded stack (policies/bundled/demo.yaml names its variable,
    # DEMO_STRIPE_KEY_ENV). Each merchant's key comes from the variable its own policy names; this one has a
    # default so `make run DEMO=1` refunds through the sandbox. A secret: kept out of repr().
    demo_stripe_secret_key: str = field(
        default_factory=lambda: _env(DEMO_STRIPE_KEY_ENV, "sk_test_demo_merchant"), repr=False
    )
    # The demo shop's Shopify webhook secret in the embedded stack: the API checks with it, the sandbox's shop
    # signs with it (DEMO_SHOPIFY_SECRET_ENV). A secret: kept out of repr().
    demo_shopify_webhook_secret: str = field(
        default_factory=lambda: _env(DEMO_SHOPIFY_SECRET_ENV, "sandbox-shopify-secret"), repr=False
    )

    # Delivery callbacks (`/v1/providers/{provider}/events`): the URL the providers call as they see it (scheme and
    # host; behind a proxy the API cannot know it, and Twilio signs it), and each provider's verification secret.
    # Empty = not configured: that provider's callbacks answer 503 until it is set. Secrets: kept out of repr().
    public_base_url: str = field(default_factory=lambda: _env("AFTERCARE_PUBLIC_BASE_URL", "").rstrip("/"))
    sendgrid_webhook_public_key: str = field(
        default_factory=lambda: _env("AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY", ""), repr=False
    )
    postmark_webhook_user: str = field(default_factory=lambda: _env("AFTERCARE_POSTMARK_WEBHOOK_USER", ""))
    postmark_webhook_password: str = field(
        default_factory=lambda: _env("AFTERCARE_POSTMARK_WEBHOOK_PASSWORD", ""), repr=False
    )
    # Twilio signs callbacks with the account's auth token: the one the sender uses unless set apart
    twilio_auth_token: str = field(
        default_factory=lambda: _env("AFTERCARE_TWILIO_AUTH_TOKEN", "") or _env("TWILIO_AUTH_TOKEN", ""), repr=False
    )
    whatsapp_app_secret: str = field(default_factory=lambda: _env("AFTERCARE_WHATSAPP_APP_SECRET", ""), repr=False)
    whatsapp_verify_token: str = field(default_factory=lambda: _env("AFTERCARE_WHATSAPP_VERIFY_TOKEN", ""), repr=False)

    # --- privacy ---
    # Days we keep raw store/carrier payloads, outbox recipients and details, and store-delivery records (pruned
    # daily), and Temporal's namespace retention of closed journeys (capped at MAX_NAMESPACE_RETENTION_DAYS).
    # 400: longer than the longest journey (90 days of tracking, a return window, a year's reorder reminders).
    retention_days: int = field(default_factory=lambda: _int("AFTERCARE_RETENTION_DAYS", 400))

    def __post_init__(self) -> None:
        if self.smtp_security not in ("none", "starttls", "tls"):
            raise SystemExit(f"AFTERCARE_SMTP_SECURITY={self.smtp_security!r} must be none, starttls or tls")
        if self.max_body_bytes < 1024:
            raise SystemExit(f"AFTERCARE_MAX_BODY_BYTES={self.max_body_bytes} is too small; at least 1024 bytes")
        self._check_temporal()
        if self.retention_days < MIN_RETENTION_DAYS:
            raise SystemExit(
                f"AFTERCARE_RETENTION_DAYS={self.retention_days} is too short: at least {MIN_RETENTION_DAYS} days "
                "(stores retry webhooks for days, and a running journey's records must outlive it); default 400"
            )
        sandbox = f"http://{self.sandbox_host}:{self.sandbox_port}"
        defaults = {
            "database_url": _env("AFTERCARE_DATABASE_URL", f"sqlite:///{self.home / 'aftercare.db'}"),
            "easypost_base_url": _env("AFTERCARE_EASYPOST_BASE_URL", f"{sandbox}/easypost"),
            "aftership_base_url": _env("AFTERCARE_AFTERSHIP_BASE_URL", f"{sandbox}/aftership"),
            "shippo_base_url": _env("AFTERCARE_SHIPPO_BASE_URL", f"{sandbox}/shippo"),
            "seventeentrack_base_url": _env("AFTERCARE_17TRACK_BASE_URL", f"{sandbox}/17track"),
            "twilio_base_url": _env("AFTERCARE_TWILIO_BASE_URL", f"{sandbox}/twilio"),
            "stripe_base_url": _env("AFTERCARE_STRIPE_BASE_URL", f"{sandbox}/stripe"),
            "sendgrid_base_url": _env("AFTERCARE_SENDGRID_BASE_URL", f"{sandbox}/sendgrid"),
            "postmark_base_url": _env("AFTERCARE_POSTMARK_BASE_URL", f"{sandbox}/postmark"),
            "whatsapp_base_url": _env("AFTERCARE_WHATSAPP_BASE_URL", f"{sandbox}/whatsapp"),
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

    def _check_temporal(self) -> None:
        """Settings for reaching Temporal that cannot work together stop us here, naming the variables."""
        if self.temporal_ui_target and not self.temporal_ui_target.startswith(("http://", "https://")):
            raise SystemExit(
                f"AFTERCARE_TEMPORAL_UI_URL={self.temporal_ui_target!r} must start with https:// or http:// "
                "(e.g. https://cloud.temporal.io)"
            )
        if self.temporal_target:
            host, _, port = self.temporal_target.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise SystemExit(
                    f"AFTERCARE_TEMPORAL_ADDRESS={self.temporal_target!r} must be host:port "
                    "(e.g. temporal.internal:7233, or my-ns.a1b2c.tmprl.cloud:7233)"
                )
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            given, missing = (
                ("AFTERCARE_TEMPORAL_TLS_CERT", "AFTERCARE_TEMPORAL_TLS_KEY")
                if self.temporal_tls_key is None
                else ("AFTERCARE_TEMPORAL_TLS_KEY", "AFTERCARE_TEMPORAL_TLS_CERT")
            )
            raise SystemExit(
                f"{given} is set but {missing} is not: a client certificate needs its private key (mTLS); "
                "set both, or neither"
            )
        if self.temporal_tls is False:
            needs_tls = [
                name
                for name, value in (
                    ("AFTERCARE_TEMPORAL_TLS_CERT", self.temporal_tls_cert),
                    ("AFTERCARE_TEMPORAL_TLS_CA", self.temporal_tls_ca),
                    ("AFTERCARE_TEMPORAL_TLS_SERVER_NAME", self.temporal_tls_server_name),
                    ("AFTERCARE_TEMPORAL_API_KEY", self.temporal_api_key),
                )
                if value
            ]
            if needs_tls:
                raise SystemExit(
                    f"AFTERCARE_TEMPORAL_TLS=off, but TLS is needed for {', '.join(needs_tls)} "
                    "(an API key would travel in clear text); remove AFTERCARE_TEMPORAL_TLS=off or those settings"
                )

    @property
    def temporal_address(self) -> str:
        """Where the worker, API and CLI connect: AFTERCARE_TEMPORAL_ADDRESS, else the embedded stack's host:port."""
        return self.temporal_target or f"{self.temporal_host}:{self.temporal_port}"

    @property
    def temporal_uses_tls(self) -> bool:
        if self.temporal_tls is not None:
            return self.temporal_tls
        return bool(
            self.temporal_tls_cert or self.temporal_tls_ca or self.temporal_tls_server_name or self.temporal_api_key
        )

    @property
    def temporal_ui_url(self) -> str:
        return self.temporal_ui_target or f"http://{self.temporal_host}:{self.temporal_ui_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.sandbox_host}:{self.sandbox_port}"


def load_settings() -> Settings:
    return Settings()
