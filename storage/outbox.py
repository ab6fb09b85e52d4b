"""The outbox (one row per message, moved along its states by compare-and-set) and suppressions
(addresses we never write to again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import Channel, MessageRequest, SkipReason
from storage.base import MESSAGES, SUPPRESSIONS, StoreBase, insert_for, insert_new, of_order
from storage.records import (
    AWAITING_HANDOVER,
    OutboxRow,
    OutboxStatus,
    SuppressionReason,
    effective_marketing,
    normalise_recipient,
)
from storage.rows import outbox_from_row, row_values
from storage.types import utcnow


class OutboxStore(StoreBase):
    """Outbox rows and suppressions."""

    # -- outbox -------------------------------------------------------------------------------------

    def claim_message(self, req: MessageRequest) -> OutboxRow:
        """Insert-or-get the outbox row of `req.idempotency_key`.

        Race-safe: concurrent claims of one key all get the same single row (ON CONFLICT DO NOTHING
        waits for, then yields to, the first inserter). The first request's fields win.
        """
        now = utcnow()
        with self._writer.begin() as conn:
            insert_new(
                conn,
                MESSAGES,
                ["idempotency_key"],
                **row_values(
                    req,
                    MESSAGES,
                    step=req.step.value,
                    channel=req.channel.value,
                    marketing=effective_marketing(req),
                    status=OutboxStatus.PENDING.value,
                    attempts=0,
                    detail="",
                    created_at=now,
                    updated_at=now,
                ),
            )
            row = self._message(conn, req.idempotency_key)
        assert row is not None  # inserted or already there, in this very transaction
        return row

    def get_message(self, key: str) -> OutboxRow | None:
        with self.engine.begin() as conn:
            return self._message(conn, key)

    def mark_sending(self, key: str, *, awaiting_handover: bool = False) -> OutboxRow | None:
        """pending/failed -> sending, counting the attempt. None if the row was not in one of those
        (someone else is sending it, or it is final): only the caller that got a row may call the provider.
        `awaiting_handover`: its sender calls `hand_over` at its point of no return (OutboxStatus)."""
        return self._transition(
            key,
            {OutboxStatus.PENDING, OutboxStatus.FAILED},
            status=OutboxStatus.SENDING.value,
            attempts=MESSAGES.c.attempts + 1,
            **({"detail": AWAITING_HANDOVER} if awaiting_handover else {}),
        )

    def hand_over(self, key: str, attempts: int) -> bool:
        """The sending attempt numbered `attempts` reaches its sender's point of no return: clear the
        AWAITING_HANDOVER mark. False (do not send) if another attempt took the row over since, or it moved on."""
        moved = self._transition(
            key,
            sa.and_(
                MESSAGES.c.status == OutboxStatus.SENDING.value,
                MESSAGES.c.attempts == attempts,
                MESSAGES.c.detail == AWAITING_HANDOVER,
            ),
            detail="",
        )
        return moved is not None

    def mark_sent(self, key: str, provider_message_id: str, at: datetime, detail: str = "") -> OutboxRow | None:
        """sending -> sent with the provider's id; also confirms a row recorded as sent-unconfirmed.
        Returns the updated row, or None if the row was in neither state. `detail` says how we know, when it
        was not the send's own answer (the provider's message lookup)."""
        return self._transition(
            key,
            sa.or_(
                MESSAGES.c.status == OutboxStatus.SENDING.value,
                sa.and_(
                    MESSAGES.c.status == OutboxStatus.SENT.value,
                    MESSAGES.c.provider_message_id.is_(None),
                ),
            ),
            status=OutboxStatus.SENT.value,
            provider_message_id=provider_message_id,
            sent_at=at,
            detail=detail,
        )

    def mark_resending(self, key: str, attempts: int, *, awaiting_handover: bool = False) -> OutboxRow | None:
        """sending -> sending again, counting the attempt, only if no other attempt did so since we read the row
        (`attempts` as read): the one caller that gets a row may send a message the provider said it never got
        (or that an interrupted attempt never handed over). `awaiting_handover` as for `mark_sending`."""
        return self._transition(
            key,
            sa.and_(MESSAGES.c.status == OutboxStatus.SENDING.value, MESSAGES.c.attempts == attempts),
            attempts=MESSAGES.c.attempts + 1,
            **({"detail": AWAITING_HANDOVER} if awaiting_handover else {}),
        )

    def mark_unconfirmed(self, key: str, at: datetime, detail: str) -> OutboxRow | None:
        """sending -> sent without a provider id: the provider may have the message, so we never
        resend it. `detail` should start with 'unconfirmed:' and say why."""
        return self._transition(key, {OutboxStatus.SENDING}, status=OutboxStatus.SENT.value, sent_at=at, detail=detail)

    def mark_skipped(self, key: str, reason: SkipReason, detail: str = "") -> OutboxRow | None:
        """pending/failed/sending -> skipped (final): not sent, and why."""
        return self._transition(
            key,
            {OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.SENDING},
            status=OutboxStatus.SKIPPED.value,
            skip_reason=SkipReason(reason).value,
            detail=detail,
        )

    def mark_failed(self, key: str, detail: str) -> OutboxRow | None:
        """pending/sending/failed -> failed: known NOT sent, so a retry may send it."""
        return self._transition(
            key,
            {OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED},
            status=OutboxStatus.FAILED.value,
            detail=detail,
        )

    def _transition(
        self, key: str, allowed: set[OutboxStatus] | sa.ColumnElement[bool], **values: Any
    ) -> OutboxRow | None:
        """Compare-and-set on the row's status: update only from an allowed state, in one statement,
        so two racing attempts cannot both move a row forward. Returns the row after, or None."""
        if isinstance(allowed, set):
            allowed = MESSAGES.c.status.in_(sorted(s.value for s in allowed))
        with self._writer.begin() as conn:
            result = conn.execute(
                MESSAGES.update()
                .where(MESSAGES.c.idempotency_key == key, allowed)
                .values(updated_at=utcnow(), **values)
            )
            if result.rowcount != 1:
                return None
            return self._message(conn, key)

    def count_marketing_sent(
        self,
        merchant_id: str,
        customer_id: str,
        channel: Channel,
        since: datetime,
        until: datetime | None = None,
    ) -> int:
        """Marketing messages to a customer on a channel requested in [since, until), that went out.

        Counts by `requested_at` (the workflow's clock), so caps agree under time-skipping tests.
        'sending' rows count too: in flight or interrupted, they may have reached the customer.
        """
        conditions = [
            MESSAGES.c.merchant_id == merchant_id,
            MESSAGES.c.customer_id == customer_id,
            MESSAGES.c.channel == Channel(channel).value,
            MESSAGES.c.marketing.is_(True),
            MESSAGES.c.status.in_([OutboxStatus.SENT.value, OutboxStatus.SENDING.value]),
            MESSAGES.c.requested_at >= since,
        ]
        if until is not None:
            conditions.append(MESSAGES.c.requested_at < until)
        with self.engine.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(MESSAGES).where(*conditions)).scalar_one()

    def list_messages(self, merchant_id: str, order_id: str) -> list[OutboxRow]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(MESSAGES)
                .where(of_order(MESSAGES, merchant_id, order_id))
                .order_by(MESSAGES.c.requested_at, MESSAGES.c.pk)
            ).mappings()
            return [outbox_from_row(r) for r in rows]

    @staticmethod
    def _message(conn: Connection, key: str) -> OutboxRow | None:
        row = conn.execute(sa.select(MESSAGES).where(MESSAGES.c.idempotency_key == key)).mappings().first()
        return None if row is None else outbox_from_row(row)

    # -- suppressions -------------------------------------------------------------------------------

    def suppress(self, channel: Channel, recipient: str, reason: SuppressionReason) -> bool:
        """Never write to this address on this channel again; True if it was not suppressed before.
        Suppressing again records the latest reason."""
        channel, recipient = Channel(channel), normalise_recipient(channel, recipient)
        reason = SuppressionReason(reason)
        with self._writer.begin() as conn:
            existed = self._suppression(conn, channel, recipient) is not None
            conn.execute(
                insert_for(conn, SUPPRESSIONS)
                .values(channel=channel.value, recipient=recipient, reason=reason.value, created_at=utcnow())
                .on_conflict_do_update(index_elements=["channel", "recipient"], set_={"reason": reason.value})
            )
        return not existed

    def unsuppress(self, channel: Channel, recipient: str) -> bool:
        """The customer opted back in (or the bounce was fixed); True if there was something to lift."""
        channel, recipient = Channel(channel), normalise_recipient(channel, recipient)
        with self._writer.begin() as conn:
            result = conn.execute(
                SUPPRESSIONS.delete().where(
                    SUPPRESSIONS.c.channel == channel.value, SUPPRESSIONS.c.recipient == recipient
                )
            )
            return result.rowcount > 0

    def get_suppression(self, channel: Channel, recipient: str) -> SuppressionReason | None:
        """Why this address is suppressed on this channel, or None if it is not."""
        channel, recipient = Channel(channel), normalise_recipient(channel, recipient)
        with self.engine.begin() as conn:
            return self._suppression(conn, channel, recipient)

    def is_suppressed(self, channel: Channel, recipient: str) -> bool:
        return self.get_suppression(channel, recipient) is not None

    @staticmethod
    def _suppression(conn: Connection, channel: Channel, recipient: str) -> SuppressionReason | None:
        reason = conn.execute(
            sa.select(SUPPRESSIONS.c.reason).where(
                SUPPRESSIONS.c.channel == channel.value, SUPPRESSIONS.c.recipient == recipient
            )
        ).scalar()
        return None if reason is None else SuppressionReason(reason)
