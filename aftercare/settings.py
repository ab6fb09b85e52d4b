"""Every knob Aftercare reads, from environment variables (or a `.env` file) with defaults that run the embedded stack.

Read once at start-up by the shell (`aftercare`, `worker.py`, the API); rooms below get what they
need passed in, so nothing deep in the code reads the environment behind your back. pydantic-settings
checks every variable at once: a wrong deploy stops with one line per wrong variable (SettingsError).
Any AFTERCARE_* secret can be given as `NAME_FILE`, the path of a file holding it (aftercare/settings_sources.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from aftercare.settings_sources import (
    ENV_PREFIX,
    SECRET_MARK,
    FileProblem,
    SecretFiles,
    SettingsError,
    env_file_path,
    every_variable,
    problems_in,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_STRIPE_KEY_ENV = "DEMO_STRIPE_SECRET_KEY"
"""The variable the bundled demo policy's `payments.credentials_env.secret_key` names."""
DEMO_SHOPIFY_SECRET_ENV = "SHOPIFY_DEMO_WEBHOOK_SECRET"
"""The variable the bundled demo policy's `store.webhook_secret_env` names."""
# AFTERCARE_RETENTION_DAYS bounds (privacy): below the floor a store's retried webhook or a running journey's records
# could be pruned; Temporal Cloud accepts namespace retention of 1 to 90 days, so that is what we ask any Temporal for.
MIN_RETENTION_DAYS = 30
MAX_NAMESPACE_RETENTION_DAYS = 90


def _raise_file_problem(value: Any) -> Any:
    """What SecretFiles found wrong with a NAME_FILE becomes this field's error, listed with the others."""
    if isinstance(value, FileProblem):
        raise value
    return value


Secret = Annotated[
    str,
    BeforeValidator(_raise_file_problem),
    StringConstraints(strip_whitespace=True),
    Field(repr=False, json_schema_extra={SECRET_MARK: True}),
]
"""A secret: also read from `NAME_FILE` (AFTERCARE_* ones), kept out of repr() and out of every error message."""
Port = Annotated[int, Field(ge=1, le=65535)]
Count = Annotated[int, Field(ge=1)]
FilePath = Annotated[Path, AfterValidator(Path.expanduser)]
Url = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(lambda url: url.rstrip("/"))]
WorkerCount = Annotated[int | None, Field(ge=1)]
# The SDK refuses fewer than two (its sticky queue and the shared queue each need a poller) when the worker
# keeps a sticky cache, and ours always does: caught here, named by variable, rather than as the SDK's ValueError.
WorkflowPolls = Annotated[int | None, Field(ge=2, description="the worker polls its sticky queue with one of them")]


_HOST_PORT_EXAMPLES = {
    "temporal_target": "temporal.internal:7233, or my-ns.a1b2c.tmprl.cloud:7233",
    "worker_metrics_address": "0.0.0.0:9464 to serve every interface, 127.0.0.1:9464 for this host",
}


def _host_and_port(address: str, info: ValidationInfo) -> str:
    host, _, port = address.rpartition(":")
    if address and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"must be host:port (e.g. {_HOST_PORT_EXAMPLES[info.field_name or '']})")
    return address


HostPort = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_host_and_port)]
"""A `host:port` setting (empty = unset); its error shows an example of what would be valid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,  # a field's variable is AFTERCARE_<FIELD NAME> unless its alias says otherwise
        env_ignore_empty=True,  # `NAME=` (compose's `${NAME:-}`) means unset: the default
        extra="ignore",  # .env also holds compose's own variables and merchants' credentials
        frozen=True,
        populate_by_name=True,  # Settings(temporal_target=...) in tests, by attribute name
    )

    home: Path = Field(default_factory=lambda: REPO_ROOT / ".aftercare")
    database_url: Secret = ""  # empty: SQLite under home; a secret, as a server URL holds a password
    policy_dir: Path = REPO_ROOT / "policies" / "bundled"
    templates_dir: Path = REPO_ROOT / "templates"
    # Temporal
    temporal_host: str = "127.0.0.1"
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    namespace: str = "default"
    # Any other Temporal (a cluster, Temporal Cloud): its host:port, and how to reach it
    # (aftercare/temporal_client.py builds the connection from these). Empty: TEMPORAL_HOST:PORT, plain.
    temporal_target: HostPort = Field("", validation_alias="AFTERCARE_TEMPORAL_ADDRESS")
    # on/off; unset: on as soon as a certificate, CA, server name or API key is given
    temporal_tls: bool | None = None
    temporal_tls_cert: FilePath | None = None
    temporal_tls_key: FilePath | None = None
    temporal_tls_ca: FilePath | None = None
    temporal_tls_server_name: str = ""
    # its Web UI, for the console's links and /codec's CORS (Temporal Cloud: https://cloud.temporal.io)
    temporal_ui_target: Url = Field("", validation_alias="AFTERCARE_TEMPORAL_UI_URL")
    # Temporal Cloud's API key (or AFTERCARE_TEMPORAL_API_KEY_FILE: a file holding it); a secret
    temporal_api_key: Secret = ""
    task_queue: str = "aftercare"
    # browser origins allowed to call /codec (comma-separated); none: the Temporal Web UI's own
    codec_cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # payload encryption keys, id:base64-key, newest first (aftercare/codec.py); empty: this machine's key file
    codec_keys: Secret = ""
    # API; the console's sessions end after this long without a request, and this long after sign-in
    console_session_idle_minutes: Count = 60
    console_session_hours: Count = 12
    # console sign-in attempts let through per minute, from one client address and from everyone
    console_logins_per_minute: Count = 10
    console_logins_overall_per_minute: Count = 60
    api_host: str = "127.0.0.1"
    api_port: Port = 8000
    # the largest request body the API reads (bytes); larger ones answer 413 before they are read
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    # Sandbox stand-ins (and where the connectors point by default in the embedded stack)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: Port = 8025
    smtp_host: str = "127.0.0.1"
    smtp_port: Port = 2525
    # Each connector's base URL: empty = the sandbox's stand-in (filled in below)
    easypost_base_url: Url = ""
    easypost_api_key: Secret = "sandbox-key"
    easypost_webhook_secret: Secret = "sandbox-webhook-secret"
    aftership_base_url: Url = ""
    aftership_api_key: Secret = "sandbox-key"
    aftership_webhook_secret: Secret = "sandbox-aftership-webhook-secret"
    shippo_base_url: Url = ""
    shippo_api_key: Secret = "shippo_test_sandbox"
    # Shippo's webhook secret: its HMAC key (Shippo-Auth-Signature) and the ?token= in the webhook URL
    shippo_webhook_secret: Secret = "sandbox-shippo-webhook-secret"
    seventeentrack_base_url: Url = Field("", validation_alias="AFTERCARE_17TRACK_BASE_URL")
    seventeentrack_api_key: Secret = Field("sandbox-17track-key", validation_alias="AFTERCARE_17TRACK_API_KEY")
    # 17TRACK's "security key", which signs its pushes (the `sign` header)
    seventeentrack_webhook_secret: Secret = Field(
        "sandbox-17track-security-key", validation_alias="AFTERCARE_17TRACK_WEBHOOK_SECRET"
    )
    twilio_base_url: Url = ""
    stripe_base_url: Url = ""
    # Email and WhatsApp APIs. The keys are the process-wide defaults, used for merchants whose policy
    # names no credentials_env of its own for the channel.
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""  # the relay's login, if it wants one
    smtp_password: Secret = ""
    sendgrid_base_url: Url = ""
    sendgrid_api_key: Secret = "SG.sandbox"
    postmark_base_url: Url = ""
    postmark_server_token: Secret = "sandbox-server-token"
    whatsapp_base_url: Url = ""
    whatsapp_api_version: str = "v21.0"
    whatsapp_access_token: Secret = "sandbox-access-token"
    # The demo merchant's Stripe key in the embedded stack (policies/bundled/demo.yaml names its variable,
    # DEMO_STRIPE_KEY_ENV). Each merchant's key comes from the variable its own policy names; this one has a
    # default so `make run DEMO=1` refunds through the sandbox.
    demo_stripe_secret_key: Secret = Field("sk_test_demo_merchant", validation_alias=DEMO_STRIPE_KEY_ENV)
    # The demo shop's Shopify webhook secret in the embedded stack: the API checks with it, the sandbox's shop
    # signs with it (DEMO_SHOPIFY_SECRET_ENV).
    demo_shopify_webhook_secret: Secret = Field("sandbox-shopify-secret", validation_alias=DEMO_SHOPIFY_SECRET_ENV)

    # Delivery callbacks (`/v1/providers/{provider}/events`): the URL the providers call as they see it (scheme and
    # host; behind a proxy the API cannot know it, and Twilio signs it), and each provider's verification secret.
    # Empty = not configured: that provider's callbacks answer 503 until it is set.
    public_base_url: Url = ""
    sendgrid_webhook_public_key: Secret = ""
    postmark_webhook_user: str = ""
    postmark_webhook_password: Secret = ""
    # Twilio signs callbacks with the account's auth token: the one the sender uses unless set apart
    twilio_auth_token: Secret = Field(
        "", validation_alias=AliasChoices("AFTERCARE_TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN")
    )
    whatsapp_app_secret: Secret = ""
    whatsapp_verify_token: Secret = ""

    # Each worker process's share of the work (worker.WorkerTuning); unset: the SDK's defaults
    worker_max_activities: WorkerCount = None
    worker_max_workflow_tasks: WorkerCount = None
    worker_max_cached_workflows: WorkerCount = None
    worker_workflow_polls: WorkflowPolls = None
    worker_activity_polls: WorkerCount = None

    # The support CLI (`aftercare support`, `aftercare policy reload`): the person's API token, and the API
    cli_token: Secret = Field("", validation_alias="AFTERCARE_TOKEN")
    cli_api_url: Url = Field("", validation_alias="AFTERCARE_API_URL")  # empty: api_url, the local API

    # Observability (docs/DEPLOYMENT.md, "Monitoring"). The worker's Prometheus endpoint (Temporal's SDK metrics
    # and our counters), host:port; empty = none. Off by default: N workers on one host would fight over one port
    # (`aftercare up --workers N` gives each the next).
    worker_metrics_address: HostPort = ""
    # text (for a terminal) or json (one object per line, for a log collector)
    log_format: Annotated[Literal["text", "json"], BeforeValidator(lambda raw: str(raw).strip().lower())] = "text"
    # OpenTelemetry's standard variable: set, the worker and API trace through Temporal's TracingInterceptor
    otlp_endpoint: Url = Field("", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")

    # Privacy (docs/DEPLOYMENT.md, "Privacy operations"). Days we keep raw store/carrier payloads, outbox recipients
    # and details, and store-delivery records (pruned daily), and Temporal's namespace retention of closed journeys
    # (capped at MAX_NAMESPACE_RETENTION_DAYS). 400: longer than the longest journey (90 days of tracking, a return
    # window, a year's reorder reminders); at least MIN_RETENTION_DAYS (stores retry webhooks for days).
    retention_days: Annotated[int, Field(ge=MIN_RETENTION_DAYS)] = 400

    def __init__(self, **values: Any) -> None:
        """The environment, then `.env`, then the defaults; keyword arguments win over all. A wrong variable
        raises SettingsError (a SystemExit) listing every one."""
        env_file = values.pop("_env_file") if "_env_file" in values else env_file_path(os.environ)
        try:
            super().__init__(_env_file=env_file, **values)
        except ValidationError as err:
            raise SettingsError(problems_in(err, type(self).model_fields)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        dotenv = dotenv_settings.env_vars if isinstance(dotenv_settings, DotEnvSettingsSource) else {}
        return init_settings, SecretFiles(settings_cls, dotenv), env_settings, dotenv_settings

    @field_validator("codec_cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, raw: Any) -> Any:
        return tuple(o.strip() for o in raw.split(",") if o.strip()) if isinstance(raw, str) else raw

    @field_validator("codec_keys")
    @classmethod
    def _codec_keys_parse(cls, keys: str) -> str:
        if keys:
            from aftercare.codec import KEYS_ENV, CodecKeyError, CodecKeys  # the codec's parser says what is wrong

            try:
                CodecKeys.parse(keys)
            except CodecKeyError as err:  # it names key ids, never key material
                raise ValueError(str(err).removeprefix(f"{KEYS_ENV}: ")) from None
        return keys

    @model_validator(mode="after")
    def _derived_and_checked(self) -> Settings:
        self._check_temporal()
        sandbox = self.sandbox_url
        defaults = {
            "database_url": f"sqlite:///{self.home / 'aftercare.db'}",
            "easypost_base_url": f"{sandbox}/easypost",
            "aftership_base_url": f"{sandbox}/aftership",
            "shippo_base_url": f"{sandbox}/shippo",
            "seventeentrack_base_url": f"{sandbox}/17track",
            "twilio_base_url": f"{sandbox}/twilio",
            "stripe_base_url": f"{sandbox}/stripe",
            "sendgrid_base_url": f"{sandbox}/sendgrid",
            "postmark_base_url": f"{sandbox}/postmark",
            "whatsapp_base_url": f"{sandbox}/whatsapp",
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)  # frozen: filled in once, here
        return self

    def _check_temporal(self) -> None:
        """Settings for reaching Temporal that cannot work together stop us here, naming the variables."""
        problems: list[str] = []
        if self.temporal_ui_target and not self.temporal_ui_target.startswith(("http://", "https://")):
            problems.append(
                f"AFTERCARE_TEMPORAL_UI_URL={self.temporal_ui_target!r}: must start with https:// or http:// "
                "(e.g. https://cloud.temporal.io)"
            )
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            given, missing = (
                ("AFTERCARE_TEMPORAL_TLS_CERT", "AFTERCARE_TEMPORAL_TLS_KEY")
                if self.temporal_tls_key is None
                else ("AFTERCARE_TEMPORAL_TLS_KEY", "AFTERCARE_TEMPORAL_TLS_CERT")
            )
            problems.append(
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
                problems.append(
                    f"AFTERCARE_TEMPORAL_TLS=off, but TLS is needed for {', '.join(needs_tls)} "
                    "(an API key would travel in clear text); remove AFTERCARE_TEMPORAL_TLS=off or those settings"
                )
        if problems:
            raise ValueError("\n".join(problems))

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


def variable_names() -> list[str]:
    """Every variable the settings read, NAME_FILE for each secret included (tests/deploy checks compose with it)."""
    return list(every_variable(Settings.model_fields))
