"""What every carrier connector offers: track a parcel on demand, and read the carrier's webhooks.

Some carriers also make return labels (`ReturnLabelMaker`); the returns activity checks for it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Protocol, TypeGuard, runtime_checkable

from domain import PollResult, ReturnLabel, ReturnLabelRequest, TrackingEvent


class CarrierError(Exception):
    """The carrier could not answer. `retryable` is False for answers that will not change (unknown number).

    `status_code` is the carrier's HTTP status when there was one (None for timeouts, refused connections);
    `retry_after` the seconds the carrier asked us to wait (its `Retry-After`), which the next try honours.
    """

    def __init__(
        self, message: str, *, retryable: bool, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after


class WebhookError(ValueError):
    """A webhook we refuse: bad signature, malformed body. The message names what is wrong."""


class CarrierClient(Protocol):
    """A tracking provider (`name`: easypost, aftership...). `secret` in `parse_webhook` replaces the process-wide
    webhook secret for a merchant whose policy names its own (`tracking.webhook_secret_env`)."""

    name: str

    async def track(self, tracking_number: str) -> PollResult: ...

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], secret: str | None = None
    ) -> list[TrackingEvent]: ...


class TracksByCarrier(Protocol):
    """A provider that registers a parcel under its carrier (AfterShip, Shippo, 17TRACK): `carrier` is our slug."""

    async def track(self, tracking_number: str, carrier: str | None = None) -> PollResult: ...


def takes_carrier(client: CarrierClient) -> TypeGuard[TracksByCarrier]:
    """Whether `client.track` takes the parcel's carrier (`track(number, carrier=slug)`); EasyPost detects it."""
    return "carrier" in inspect.signature(client.track).parameters


@runtime_checkable
class CourierAware(Protocol):
    """A provider whose pushes name the parcel's carrier (AfterShip's courier slug): a parcel recorded with
    another carrier is not the one a push is about."""

    name: str

    def pushed_carriers(self, body: bytes) -> dict[str, str]:
        """tracking number -> our carrier slug, of a push already verified by `parse_webhook`."""
        ...


@runtime_checkable
class QueryVerifiedWebhooks(Protocol):
    """A provider whose pushes may prove themselves with a secret token in the webhook URL's query instead of a
    signature header (Shippo's self-generated `?token=`): the push endpoint hands it the query too."""

    def parse_webhook_with_query(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], secret: str | None = None
    ) -> list[TrackingEvent]: ...


@runtime_checkable
class ReturnLabelMaker(Protocol):
    """A carrier that buys return labels: from the customer back to the merchant, paid by the merchant."""

    name: str

    async def create_return_label(self, request: ReturnLabelRequest) -> ReturnLabel:
        """One label per `request.idempotency_key`, however often it is called; CarrierError if not."""
        ...
