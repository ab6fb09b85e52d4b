"""How a merchant's store, channels and payments are reached: providers, the environment variables holding their
credentials and callback secrets (never the values), and WhatsApp templates; with the checks of each."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from domain import Channel, ProviderTemplate, Step
from domain.messages import CHANNEL_PROVIDERS, PROVIDER_CALLBACK_SECRETS, PROVIDER_CREDENTIALS
from policies.strict import Strict


def env_var_name(name: str, where: str, example: str) -> str:
    """Where a policy names a credential, it gives an environment variable's name: a secret pasted there is
    refused (and not repeated in the error)."""
    if not name.replace("_", "").isalnum() or not name[0].isalpha() or name.upper() != name or len(name) > 128:
        raise ValueError(f"{where} must name an environment variable like {example}, not a secret value")
    return name


def env_var_names(v: dict[str, str], example: str, field: str = "credentials_env") -> dict[str, str]:
    """Each value of `credentials_env` (or `webhook_secret_env`) is an environment variable's name."""
    for key, name in v.items():
        env_var_name(name, f"{field}.{key}", example)
    return v


TEMPLATE_CONTEXT_ROOTS = ("merchant", "customer", "order", "shipment", "delay", "item", "reorder", "links",
                          "refund", "exchange")  # fmt: skip
"""What a WhatsApp template parameter may read: the top-level names of a message's template context."""


class ChannelConfig(Strict):
    """How a channel is reached. Credentials are env var *names*; the values never live in YAML.

    No `credentials_env`: the worker's process-wide credentials for the provider (its AFTERCARE_* or
    TWILIO_* variables). `templates` (WhatsApp): the approved template each step sends, which the
    WhatsApp Cloud API requires for every step that uses the channel.
    """

    provider: Literal["smtp", "sendgrid", "postmark", "twilio", "whatsapp_cloud"]
    sender: str = Field(
        description="From address for email, E.164 number or service id for SMS/WhatsApp through Twilio, "
        "the phone number ID for the WhatsApp Cloud API"
    )
    credentials_env: dict[str, str] = Field(
        default_factory=dict, description="credential name -> environment variable that holds it"
    )
    templates: dict[Step, ProviderTemplate] = Field(
        default_factory=dict, description="step -> approved WhatsApp template (name, language, parameters)"
    )
    webhook_secret_env: dict[str, str] = Field(
        default_factory=dict,
        description="the merchant's own provider account's delivery callback secret: name -> environment variable "
        "on the API (sendgrid: public_key; postmark: user, password; twilio: auth_token, by default credentials_env's; "
        "whatsapp_cloud: app_secret, verify_token). Its callbacks then carry ?merchant_id=<merchant> and are checked "
        "with it",
    )

    @field_validator("credentials_env", "webhook_secret_env")
    @classmethod
    def _env_names(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return env_var_names(v, "TWILIO_AUTH_TOKEN", info.field_name or "credentials_env")

    @model_serializer(mode="wrap")
    def _without_empty_templates(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No templates (or callback secrets), no key: a policy that names none keeps the content hash it had
        before they existed."""
        data: dict[str, Any] = handler(self)
        for name in ("templates", "webhook_secret_env"):
            if not getattr(self, name):
                data.pop(name, None)
        return data


class Payments(Strict):
    """Where this merchant's customers paid, and the environment variable holding the merchant's own key.

    Each merchant refunds with its own account's key, so a payment of another account is not found
    there and cannot be refunded. Like a channel's, the credentials are env var *names*, never values.
    """

    provider: Literal["stripe"] = "stripe"
    credentials_env: dict[Literal["secret_key"], str] = Field(
        description="secret_key -> the environment variable that holds this merchant's Stripe secret key"
    )

    @field_validator("credentials_env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        if "secret_key" not in v:
            raise ValueError("credentials_env needs secret_key: the environment variable with the Stripe secret key")
        return env_var_names(v, "ACME_STRIPE_SECRET_KEY")


def provider_problems(channel: Channel, config: ChannelConfig) -> list[str]:
    """What is wrong with one channel's configuration: a provider that cannot carry it, credentials or callback
    secrets it does not take or misses, templates off WhatsApp or reading outside the message's context."""
    where = f"channels.{channel.value}"
    allowed = CHANNEL_PROVIDERS[channel]
    if config.provider not in allowed:
        return [f"{where}.provider: {config.provider!r} cannot send {channel.value}; choose {', '.join(allowed)}"]
    problems: list[str] = []
    required, optional = PROVIDER_CREDENTIALS[config.provider]
    known = (*required, *optional)
    unknown = [key for key in config.credentials_env if key not in known]
    problems.extend(
        f"{where}.credentials_env.{key}: {config.provider} takes {', '.join(known) or 'no credentials'}; not {key!r}"
        for key in unknown
    )
    if config.credentials_env and not unknown and (missing := [k for k in required if k not in config.credentials_env]):
        problems.append(
            f"{where}.credentials_env: {config.provider} needs {', '.join(missing)} too (or name no variables"
            " to use the worker's own credentials)"
        )
    secrets = PROVIDER_CALLBACK_SECRETS[config.provider]
    problems.extend(
        f"{where}.webhook_secret_env.{key}: {config.provider} callbacks are verified with "
        f"{', '.join(secrets) or 'nothing (it sends none)'}; not {key!r}"
        for key in config.webhook_secret_env
        if key not in secrets
    )
    if config.webhook_secret_env and (missing := [k for k in secrets if k not in config.webhook_secret_env]):
        problems.append(f"{where}.webhook_secret_env: {config.provider} callbacks need {', '.join(missing)} too")
    if config.templates and channel is not Channel.WHATSAPP:
        problems.append(f"{where}.templates: only the whatsapp channel sends provider templates")
    for step, template in config.templates.items():
        problems.extend(
            f"{where}.templates.{step.value}.parameters: {path!r} is not in the message's context; it starts"
            f" with one of {', '.join(TEMPLATE_CONTEXT_ROOTS)}"
            for path in template.parameters
            if path.split(".", 1)[0] not in TEMPLATE_CONTEXT_ROOTS
        )
    return problems


SHOP_DOMAIN_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"


class StoreConnection(Strict):
    """The merchant's store, whose webhooks start and drive its journeys (`POST /v1/webhooks/<platform>`).

    A delivery names its shop (Shopify: `X-Shopify-Shop-Domain`); the policy that connects that shop is the
    merchant it belongs to. `webhook_secret_env` names the environment variable holding the secret the store
    signs with: like every credential, the value never lives in YAML. Each platform names its shop its own way
    (Shopify: `shop_domain`, the shop's myshopify.com host; WooCommerce: `site_url`, the site's home URL);
    `shop` is that name, whatever the platform.
    """

    platform: Literal["shopify", "woocommerce"]
    shop_domain: str | None = Field(
        default=None,
        max_length=255,
        pattern=SHOP_DOMAIN_PATTERN,
        description="Shopify: the shop's myshopify.com host, e.g. acme.myshopify.com (lower case)",
    )
    site_url: str | None = Field(
        default=None,
        max_length=2048,
        description="WooCommerce: the site's home URL, as X-WC-Webhook-Source says it, e.g. https://shop.example.com/",
    )
    webhook_secret_env: str = Field(
        description="the environment variable holding the secret the store signs its webhooks with"
    )

    @field_validator("webhook_secret_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return env_var_name(v, "webhook_secret_env", "ACME_SHOPIFY_WEBHOOK_SECRET")

    @model_validator(mode="after")
    def _shop_named(self) -> StoreConnection:
        if self.platform == "shopify" and self.shop_domain is None:
            raise ValueError(
                "a shopify store needs shop_domain: the shop's myshopify.com host, e.g. acme.myshopify.com"
            )
        if self.platform == "woocommerce" and (self.site_url is None or site_of(self.site_url) is None):
            raise ValueError("a woocommerce store needs site_url: the site's home URL, e.g. https://shop.example.com/")
        return self

    @property
    def shop(self) -> str | None:
        """The shop as its webhooks name it (lower case): Shopify's myshopify.com host; WooCommerce's site as
        host and path (`shop.example.com`, `example.com/store`)."""
        if self.platform == "shopify":
            return self.shop_domain
        return site_of(self.site_url) if self.site_url else None


def site_of(url: str) -> str | None:
    """`https://Shop.Example.com/` -> `shop.example.com`; `https://example.com/store/` -> `example.com/store`: how
    the WooCommerce connector names a site from `X-WC-Webhook-Source`. None for a URL that is not http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return (parts.hostname + (f":{parts.port}" if parts.port else "") + parts.path.rstrip("/")).lower()
