"""What providers' delivery callbacks do to the outbox: find the message, move its delivery status (only ever
up `DELIVERY_RANK`, so late and repeated events change nothing), settle a send recorded as unconfirmed, and
suppress the address when the event says it must not be written to again. One transaction per event.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import Channel
from domain.delivery import DELIVERY_RANK, DeliveryEvent, Suppress
from storage.base import MESSAGES, SUPPRESSIONS, StoreBase, insert_for
from storage.records import DeliveryRecorded, OutboxRow, OutboxStatus, SuppressionReason, normalise_recipient
from storage.rows import outbox_from_row
from storage.types import utcnow

SUPPRESSIONS_FOR: dict[Suppress, SuppressionReason] = {
    Suppress.BOUNCED: SuppressionReason.BOUNCED,
    Suppress.OPTED_OUT: SuppressionReason.OPTED_OUT,
    Suppress.NO_MARKETING: SuppressionReason.NO_MARKETING,
}
# A suppression only ever gets stronger: "no marketing" never replaces a full stop (opted out, bounced).
_WEAK = SuppressionReason.NO_MARKETING.value

_current_rank = sa.case(
    {status.value: rank for status, rank in DELIVERY_RANK.items()}, value=MESSAGES.c.delivery_status, else_=0
)


class DeliveriesStore(StoreBase):
    """Delivery callbacks on outbox rows."""

    def record_delivery(
        self, event: DeliveryEvent, received_at: datetime, merchant_id: str | None = None
    ) -> DeliveryRecorded:
        """Apply one provider event to the message it is about; `matched=False` if we have no such message.

        The message is found by our idempotency key when the provider echoes it (only among the provider's
        channels, and `merchant_id`'s messages when set: a callback checked with a merchant's own secret), else by
        the provider's message id. A message still 'sending', or 'sent' without a provider id (an attempt died
        during the provider call), is confirmed: the provider has it.
        """
        with self._writer.begin() as conn:
            row = self._find(conn, event, merchant_id)
            if row is None:
                return DeliveryRecorded(matched=False)
            key = row.idempotency_key
            confirmed = False
            if event.provider_message_id and self._unconfirmed(row):
                confirmed = self._confirm(conn, row, event, received_at)
            changed = False
            if event.status is not None:
                changed = (
                    conn.execute(
                        MESSAGES.update()
                        .where(
                            MESSAGES.c.idempotency_key == key,
                            MESSAGES.c.status == OutboxStatus.SENT.value,
                            _current_rank < DELIVERY_RANK[event.status],
                        )
                        .values(
                            delivery_status=event.status.value,
                            delivery_at=event.occurred_at or received_at,
                            delivery_detail=f"{event.provider}: {event.vendor_event}"
                            + (f" — {event.detail}" if event.detail else ""),
                        )
                    ).rowcount
                    == 1
                )
            suppressed = None
            reason = SUPPRESSIONS_FOR.get(event.suppress)
            if reason is not None and row.recipient and row.status in (OutboxStatus.SENT, OutboxStatus.SENDING):
                suppressed = self._suppress(conn, row.channel, row.recipient, reason)
            return DeliveryRecorded(matched=True, changed=changed, confirmed=confirmed, suppressed=suppressed)

    @staticmethod
    def _find(conn: Connection, event: DeliveryEvent, merchant_id: str | None) -> OutboxRow | None:
        channels = [c.value for c in event.channels]
        scope: sa.ColumnElement[bool] = MESSAGES.c.channel.in_(channels)
        if merchant_id is not None:
            scope = sa.and_(scope, MESSAGES.c.merchant_id == merchant_id)
        lookups = []
        if event.idempotency_key:
            lookups.append(MESSAGES.c.idempotency_key == event.idempotency_key)
        if event.provider_message_id:
            lookups.append(MESSAGES.c.provider_message_id == event.provider_message_id)
        for lookup in lookups:
            found = conn.execute(sa.select(MESSAGES).where(lookup, scope).limit(1)).mappings().first()
            if found is not None:
                return outbox_from_row(found)
        return None

    @staticmethod
    def _unconfirmed(row: OutboxRow) -> bool:
        return row.status is OutboxStatus.SENDING or (
            row.status is OutboxStatus.SENT and row.provider_message_id is None
        )

    @staticmethod
    def _confirm(conn: Connection, row: OutboxRow, event: DeliveryEvent, received_at: datetime) -> bool:
        """sending / sent-unconfirmed -> sent with the provider's id (compare-and-set, like the outbox's moves)."""
        result = conn.execute(
            MESSAGES.update()
            .where(
                MESSAGES.c.idempotency_key == row.idempotency_key,
                sa.or_(
                    MESSAGES.c.status == OutboxStatus.SENDING.value,
                    sa.and_(MESSAGES.c.status == OutboxStatus.SENT.value, MESSAGES.c.provider_message_id.is_(None)),
                ),
            )
            .values(
                status=OutboxStatus.SENT.value,
                provider_message_id=event.provider_message_id,
                sent_at=sa.func.coalesce(MESSAGES.c.sent_at, event.occurred_at or received_at),
                detail=f"confirmed by {event.provider}'s delivery callback ({event.vendor_event})",
                updated_at=received_at,
            )
        )
        return result.rowcount == 1

    @staticmethod
    def _suppress(conn: Connection, channel: Channel, recipient: str, reason: SuppressionReason) -> SuppressionReason:
        """Suppress the address, never weakening what is there; returns the reason now recorded."""
        address = normalise_recipient(channel, recipient)
        conn.execute(
            insert_for(conn, SUPPRESSIONS)
            .values(channel=channel.value, recipient=address, reason=reason.value, created_at=utcnow())
            .on_conflict_do_update(
                index_elements=["channel", "recipient"],
                set_={"reason": reason.value},
                where=SUPPRESSIONS.c.reason == _WEAK,
            )
        )
        recorded = conn.execute(
            sa.select(SUPPRESSIONS.c.reason).where(
                SUPPRESSIONS.c.channel == channel.value, SUPPRESSIONS.c.recipient == address
            )
        ).scalar_one()
        return SuppressionReason(recorded)
