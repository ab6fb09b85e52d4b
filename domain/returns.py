"""Return labels: the customer sends items back (an exchange) with a label the carrier made for us."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.orders import Address


class ReturnLabelRequest(BaseModel):
    """Input of the `create_return_label` activity: from the customer back to the merchant."""

    idempotency_key: str
    merchant_id: str
    order_id: str
    carrier: str
    from_address: Address
    to_address: Address
    items: dict[str, int] = Field(description="line item id -> quantity going back")
    weight_oz: float = Field(default=16.0, gt=0)


class ReturnLabel(BaseModel):
    carrier: str
    tracking_number: str
    label_url: str
    created_at: datetime
