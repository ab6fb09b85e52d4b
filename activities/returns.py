"""`create_return_label`: a prepaid label for the customer to send items back (an exchange, a return).

Thin on purpose: the carrier connector buys the label and makes it idempotent (one label per
request's `idempotency_key`, even when a retry follows a lost answer). This activity picks the
carrier, checks it can make return labels at all, and tells Temporal what is worth retrying:
- the carrier refused for good (bad address, unknown service, rejected key) -> a non-retryable
  `ReturnLabelRefused` with the carrier's words;
- an outage, a rate limit, a timeout -> the CarrierError is raised as is and Temporal retries.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors.carriers.base import CarrierClient, CarrierError, ReturnLabelMaker
from domain import ReturnLabel, ReturnLabelRequest

RETURN_LABEL_REFUSED = "ReturnLabelRefused"
UNKNOWN_CARRIER = "UnknownCarrier"


class ReturnActivities:
    """Holds the carrier clients by name; register `instance.create_return_label`."""

    def __init__(self, carriers: Mapping[str, CarrierClient]) -> None:
        self._carriers = carriers

    def _makers(self) -> list[str]:
        return sorted(name for name, c in self._carriers.items() if isinstance(c, ReturnLabelMaker))

    @activity.defn(name="create_return_label")
    async def create_return_label(self, request: ReturnLabelRequest) -> ReturnLabel:
        carrier = self._carriers.get(request.carrier)
        if not isinstance(carrier, ReturnLabelMaker):
            what = "no carrier" if carrier is None else "no return labels from carrier"
            raise ApplicationError(
                f"{what} {request.carrier!r} in this worker for order {request.order_id}; carriers that make "
                f"return labels: {self._makers() or 'none'} (set the policy's returns.label_carrier to one)",
                type=UNKNOWN_CARRIER,
                non_retryable=True,
            )
        try:
            label = await carrier.create_return_label(request)
        except CarrierError as err:
            if err.retryable:
                raise  # Temporal retries; the idempotency key keeps it to one label
            details = [{"status_code": err.status_code}] if err.status_code is not None else []
            raise ApplicationError(str(err), *details, type=RETURN_LABEL_REFUSED, non_retryable=True) from err
        activity.logger.info(
            "return label for order %s/%s: %s %s",
            request.merchant_id,
            request.order_id,
            label.carrier,
            label.tracking_number,
        )
        return label
