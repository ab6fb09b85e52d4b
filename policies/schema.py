"""The merchant's journey policy, as a pydantic model: what the YAML may say, and its defaults.

The workflows import this module (a policy snapshot travels in every journey's input), so it stays
pure: no I/O, no clock. `loader.py` turns YAML files into these models with file:line errors.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import string
from collections.abc import Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from domain import Address, Channel, DelayKind, Order, Step, TrackingStatus, check_locale
from domain.carriers import TRACKING_PROVIDERS
from policies.channels import ChannelConfig, Payments, StoreConnection, provider_problems
from policies.durations import Duration
from policies.strict import Strict as _Strict


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday 0 ... Sunday 6, as `datetime.weekday()` counts."""
        return list(Weekday).index(self)


LINK_PLACEHOLDERS = ("order_id", "sku", "tracking_number")
"""What a link template may ask for; each is filled in where the journey knows it (a tracking number once
a parcel has one, a SKU in a reorder reminder)."""


def link_placeholders(template: str) -> list[str]:
    """The placeholders a link template uses; ValueError for a malformed or unknown one (`{0}`, `{nope}`,
    `{order_id!r}`, an unbalanced brace), naming the valid ones. `{{` and `}}` are literal braces."""
    valid = ", ".join("{" + p + "}" for p in LINK_PLACEHOLDERS)
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{template!r} has a malformed placeholder ({exc}); valid placeholders: {valid}") from None
    for name, spec, conversion in fields:
        if name not in LINK_PLACEHOLDERS or spec or conversion:
            written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"{written} is not a placeholder a link can use; valid placeholders: {valid}")
    return [name for name, _, _ in fields]


def fill_link(template: str, **values: str | None) -> str | None:
    """The link with every placeholder filled (values URL-quoted), or None if one has no value here: a
    half-filled link (`/track/{tracking_number}` before anything shipped) is left out, never sent."""
    try:
        names = link_placeholders(template)
    except ValueError:
        return None
    if any(not values.get(name) for name in names):
        return None
    return template.format_map({name: quote(str(values[name]), safe="") for name in names})


def _link_template(template: str) -> str:
    link_placeholders(template)
    return template


class Merchant(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    name: str
    timezone: str = "UTC"
    support_email: str | None = None
    links: dict[Literal["tracking", "review", "reorder", "support"], Annotated[str, AfterValidator(_link_template)]] = (
        Field(
            default_factory=dict,
            description="URL templates; {order_id}, {sku}, {tracking_number} are filled in where known",
        )
    )


class QuietHours(_Strict):
    """Messages on this channel wait while the customer's local clock is in [start, end)."""

    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_text(cls, v: Any) -> Any:
        """A bare number would be read as seconds after midnight (21 -> 00:00:21): refuse it."""
        if isinstance(v, int | float):
            raise ValueError(f'{v!r} is not a time of day; write it as "HH:MM", e.g. "21:00"')
        return v


class Cap(_Strict):
    """At most `max` marketing messages on a channel per `window` (transactional ones are exempt)."""

    window: Duration
    max: int = Field(default=1, ge=1)


def _default_quiet_hours() -> dict[Channel, QuietHours]:
    night = QuietHours(start=time(21, 0), end=time(8, 0))
    return {Channel.SMS: night, Channel.WHATSAPP: night}


def _default_caps() -> dict[Channel, Cap]:
    return {
        Channel.EMAIL: Cap(window=Duration(16, "h")),
        Channel.SMS: Cap(window=Duration(24, "h")),
        Channel.WHATSAPP: Cap(window=Duration(24, "h")),
    }


class Defaults(_Strict):
    locale: Annotated[str, AfterValidator(check_locale)] = Field(
        default="en", description="BCP 47, e.g. en or de-CH: for customers whose order names none"
    )
    quiet_hours: dict[Channel, QuietHours] = Field(default_factory=_default_quiet_hours)
    business_days: list[Weekday] = Field(
        default_factory=lambda: [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI],
        min_length=1,
    )
    holidays: list[date] = Field(default_factory=list)
    caps: dict[Channel, Cap] = Field(default_factory=_default_caps)
    stale_after: Duration | None = Field(
        default=Duration(1, "d"),
        description="how long before we heard of an order (an import, a backlog after an outage) a message may "
        "have been due and still go out; older ones are skipped as `stale`, not sent late in a flood. "
        "null: send everything, however late",
    )
    resend_unconfirmed: Literal["transactional", "never"] = Field(
        default="transactional",
        description="a send a crash left unconfirmed is settled by asking the provider where it offers a message "
        "lookup (Twilio, Postmark); when the provider says it never got the message, `transactional` sends a "
        "transactional step again under the same key, `never` leaves it sent-unconfirmed. Marketing steps are "
        "never sent again",
    )

    @model_serializer(mode="wrap")
    def _without_default_resend(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The default `resend_unconfirmed` is left out: a policy that does not change it keeps its content hash."""
        data: dict[str, Any] = handler(self)
        if self.resend_unconfirmed == "transactional":
            data.pop("resend_unconfirmed", None)
        return data


class StepConfig(_Strict):
    enabled: bool = True
    channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL])


class StatusUpdateStep(StepConfig):
    statuses: list[TrackingStatus] = Field(
        default_factory=lambda: [
            TrackingStatus.OUT_FOR_DELIVERY,
            TrackingStatus.AVAILABLE_FOR_PICKUP,
            TrackingStatus.ATTEMPT_FAILED,
            TrackingStatus.RETURNING,
        ]
    )


class DelayAlertStep(StepConfig):
    kinds: list[DelayKind] = Field(default_factory=lambda: list(DelayKind))


class TimedStep(StepConfig):
    after: Duration


class FollowUpStep(TimedStep):
    after: Duration = Duration(3, "d")


class ReviewRequestStep(TimedStep):
    after: Duration = Duration(14, "d")
    per: Literal["order", "item"] = "order"
    reminder_after: Duration | None = Field(
        default=Duration(7, "d"), description="one reminder this long after the request; null = none"
    )


class Steps(_Strict):
    confirmation: StepConfig = StepConfig()
    shipped: StepConfig = StepConfig()
    status_update: StatusUpdateStep = StatusUpdateStep()
    delay_alert: DelayAlertStep = DelayAlertStep()
    delivered: StepConfig = StepConfig()
    follow_up: FollowUpStep = FollowUpStep()
    review_request: ReviewRequestStep = ReviewRequestStep()
    reorder_reminder: StepConfig = StepConfig()
    refund_issued: StepConfig = StepConfig()
    exchange_created: StepConfig = StepConfig()
    cancelled: StepConfig = StepConfig()


class Delays(_Strict):
    """When a parcel or order counts as late. Each kind alerts once per episode."""

    fulfillment_ladder: list[Duration] = Field(
        default_factory=lambda: [Duration(2, "bd"), Duration(5, "bd")],
        description="after the order is placed with nothing shipped: one fulfillment_late alert per rung",
    )
    pickup_sla: Duration = Duration(1, "bd")
    stalled_after: Duration = Duration(72, "h")
    edd_grace: Duration = Duration(0, "h")
    exception_grace: Duration = Duration(0, "h")


MIN_POLL_INTERVAL = timedelta(seconds=10)  # a carrier API hammered in a loop helps no one


class Tracking(_Strict):
    """Whom we ask about parcels, how they are polled when webhooks stay silent, and when tracking gives up."""

    provider: str = Field(
        default="easypost",
        description=f"the tracking provider of parcels that name none: {', '.join(TRACKING_PROVIDERS)}",
    )
    webhook_secret_env: str | None = Field(
        default=None,
        description="the environment variable holding this merchant's own webhook secret at the provider; its "
        "pushes then carry ?merchant_id=<merchant> (none: the process-wide AFTERCARE_<PROVIDER>_WEBHOOK_SECRET)",
    )
    poll_every: Duration = Duration(2, "h")
    poll_backoff: float = Field(default=1.5, ge=1.0, le=10.0)
    poll_max_interval: Duration = Duration(12, "h")
    expire_after: Duration = Field(
        default=Duration(30, "d"), description="no carrier information this long after shipping: expired"
    )
    give_up_after: Duration = Field(default=Duration(90, "d"), description="retire tracking regardless")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str) -> str:
        if v not in TRACKING_PROVIDERS:
            raise ValueError(f"{v!r} is not a provider we can track through; valid: {', '.join(TRACKING_PROVIDERS)}")
        return v

    @field_validator("webhook_secret_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and (not v.replace("_", "").isalnum() or not v[0].isalpha() or v.upper() != v or len(v) > 128):
            raise ValueError("must name an environment variable like ACME_AFTERSHIP_WEBHOOK_SECRET, not a secret value")
        return v

    @model_validator(mode="after")
    def _calendar_only(self) -> Tracking:
        for name in ("poll_every", "poll_max_interval", "expire_after", "give_up_after"):
            if getattr(self, name).business_days:
                raise ValueError(f"{name} must be calendar time (m, h, d, w), not business days")
        if self.poll_every.as_timedelta() < MIN_POLL_INTERVAL:
            raise ValueError(f"poll_every {self.poll_every} is too short; poll at most every 10s (e.g. 10s, 2h)")
        if self.poll_max_interval.as_timedelta() < self.poll_every.as_timedelta():
            raise ValueError(
                f"poll_max_interval {self.poll_max_interval} must be at least poll_every {self.poll_every}"
            )
        return self


class ReorderRule(_Strict):
    """A consumable: remind the customer before the supply they bought runs out."""

    skus: list[str] = Field(min_length=1, description="SKU globs, e.g. COFFEE-*")
    supply_days_per_unit: int = Field(ge=1)
    remind_before: Duration = Duration(3, "d")
    repeat_every: Duration | None = Duration(7, "d")
    max_reminders: int = Field(default=2, ge=1, le=10)

    def matches(self, sku: str) -> bool:
        return any(fnmatch.fnmatchcase(sku, pattern) for pattern in self.skus)


class ExchangeBonus(_Strict):
    kind: Literal["flat", "percent"]
    value: Decimal = Field(gt=0)


class Returns(_Strict):
    """Exchanges: how long after delivery they are open, where labels send parcels, the bonus offered."""

    window: Duration = Duration(30, "d")
    exchange_bonus: ExchangeBonus | None = None
    address: Address | None = Field(default=None, description="where return labels send parcels back")
    label_carrier: str = Field(default="easypost", description="the carrier connector that makes return labels")


class Cancellation(_Strict):
    """What a cancellation before shipment does with the money: refund it all, or leave it to the merchant."""

    refund: Literal["full", "none"] = "full"


class Condition(_Strict):
    """All given fields must hold for the variant to apply."""

    country_in: list[str] | None = None
    country_not_in: list[str] | None = None
    total_at_least: Decimal | None = None
    total_below: Decimal | None = None
    tags_any: list[str] | None = None
    sku_any: list[str] | None = Field(default=None, description="SKU globs")

    def matches(self, order: Order) -> bool:
        country = order.shipping_address.country.upper()
        checks = [
            self.country_in is None or country in {c.upper() for c in self.country_in},
            self.country_not_in is None or country not in {c.upper() for c in self.country_not_in},
            self.total_at_least is None or order.total >= self.total_at_least,
            self.total_below is None or order.total < self.total_below,
            self.tags_any is None or bool(set(self.tags_any) & set(order.tags)),
            self.sku_any is None or any(fnmatch.fnmatchcase(i.sku, p) for i in order.items for p in self.sku_any),
        ]
        return all(checks)


OVERRIDE_SECTIONS: tuple[str, ...] = ("defaults", "steps", "delays", "tracking", "reorder", "returns", "cancellation")
"""The policy sections a variant's `override` may set."""


class Variant(_Strict):
    """Overrides merged over the base policy for orders matching `when`; every match applies, in order."""

    name: str
    when: Condition
    override: dict[str, Any] = Field(
        description="a partial policy (steps, delays, tracking, defaults, reorder, returns) merged over the base"
    )

    @field_validator("override")
    @classmethod
    def _sections(cls, v: dict[str, Any]) -> dict[str, Any]:
        allowed = set(OVERRIDE_SECTIONS)
        unknown = sorted(set(v) - allowed)
        if unknown:
            raise ValueError(f"override may set {', '.join(sorted(allowed))}; not {', '.join(unknown)}")
        return v


class Policy(_Strict):
    """One merchant's journey. Snapshotted into every journey at its start, with its hash."""

    version: Literal[1] = 1
    merchant: Merchant
    channels: dict[Channel, ChannelConfig] = Field(default_factory=dict)
    payments: Payments | None = Field(default=None, description="none: Aftercare refunds nothing for this merchant")
    store: StoreConnection | None = Field(default=None, description="none: orders come by POST /v1/orders only")
    defaults: Defaults = Defaults()
    steps: Steps = Steps()
    delays: Delays = Delays()
    tracking: Tracking = Tracking()
    reorder: list[ReorderRule] = Field(default_factory=list)
    returns: Returns = Returns()
    cancellation: Cancellation = Cancellation()
    variants: list[Variant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _channels_configured(self) -> Policy:
        """Every problem at once, one per line (the loader points each at its own YAML line).

        A variant's ValidationError is re-raised as a ValueError that names the variant: raised bare
        from a validator, its locations would read as if the base policy were wrong.
        """
        problems = channel_problems(self.channels, self.steps)
        for i, variant in enumerate(self.variants if not problems else []):  # else they repeat the base's
            try:
                self._merged(variant.override)
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in (f"variants[{i}].override", *err["loc"]))
                    problems.extend(
                        f"{where}: {line}" for line in err["msg"].removeprefix("Value error, ").splitlines()
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_serializer(mode="wrap")
    def _without_absent_store(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No store, no key: a policy that connects none keeps the content hash it had before stores existed."""
        data: dict[str, Any] = handler(self)
        if self.store is None:
            data.pop("store", None)
        return data

    def _merged(self, override: dict[str, Any]) -> Policy:
        base = self.model_dump(mode="json", exclude={"variants"})
        return Policy.model_validate(_deep_merge(base, override))

    def for_order(self, order: Order) -> Policy:
        """The policy this order lives by: every matching variant merged over the base, in order."""
        merged = self.model_copy(update={"variants": []})
        for variant in self.variants:
            if variant.when.matches(order):
                merged = merged._merged(variant.override)
        return merged

    def matching_variants(self, order: Order) -> list[str]:
        return [v.name for v in self.variants if v.when.matches(order)]

    def content_hash(self) -> str:
        """Stable hash of the policy's meaning (not its formatting): recorded with every journey."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def channel_problems(channels: Mapping[Channel, ChannelConfig], steps: Steps) -> list[str]:
    """Enabled steps that use a channel the policy does not configure (none configured: all allowed),
    providers that cannot carry their channel, credentials a provider does not take or misses, and
    WhatsApp Cloud steps without an approved template."""
    problems: list[str] = []
    if not channels:
        return problems
    for channel, config in channels.items():
        problems.extend(provider_problems(channel, config))
    for step_name in Steps.model_fields:
        step: StepConfig = getattr(steps, step_name)
        if not step.enabled:
            continue
        problems.extend(
            f"steps.{step_name}.channels uses {channel.value!r}, which is not configured "
            f"under channels (configured: {', '.join(c.value for c in channels)})"
            for channel in step.channels
            if channel not in channels
        )
        whatsapp = channels.get(Channel.WHATSAPP)
        if (
            whatsapp is not None
            and whatsapp.provider == "whatsapp_cloud"
            and Channel.WHATSAPP in step.channels
            and Step(step_name) not in whatsapp.templates
        ):
            problems.append(
                f"steps.{step_name}.channels uses 'whatsapp' through whatsapp_cloud, which sends approved templates"
                f" only: add channels.whatsapp.templates.{step_name}: {{name: <template>, language: <code>}}"
            )
    return problems


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
