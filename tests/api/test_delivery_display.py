"""What support's order page and the engineer's timeline say of a message once its provider reported on it."""

from __future__ import annotations

from datetime import UTC, datetime

from aftercare.histories import from_bundle
from api.console.views import message_entry
from api.timeline import build_timeline
from domain import Channel, MessageOutcome, MessageStatus, SkipReason, Step
from domain.delivery import DeliveryStatus
from storage import OutboxRow, OutboxStatus
from tests.conftest import CONVERTER
from tests.recording import HISTORIES

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = "order-acme-1001:confirmation:email"


def outcome(detail: str = "") -> MessageOutcome:
    return MessageOutcome(
        idempotency_key=KEY,
        step=Step.CONFIRMATION,
        channel=Channel.EMAIL,
        recipient="ada@example.com",
        status=MessageStatus.SENT,
        provider_message_id="sg-1" if not detail else None,
        at=T0,
        detail=detail,
    )


def row(**fields: object) -> OutboxRow:
    values: dict[str, object] = {
        "idempotency_key": KEY,
        "merchant_id": "acme",
        "order_id": "1001",
        "customer_id": "c-1",
        "step": Step.CONFIRMATION,
        "channel": Channel.EMAIL,
        "recipient": "ada@example.com",
        "marketing": False,
        "policy_hash": None,
        "status": OutboxStatus.SENT,
        "skip_reason": None,
        "provider_message_id": "sg-1",
        "requested_at": T0,
        "sent_at": T0,
        "attempts": 1,
        "detail": "",
        "created_at": T0,
        "updated_at": T0,
    }
    return OutboxRow.model_validate(values | fields)


BOUNCED = {
    "delivery_status": DeliveryStatus.BOUNCED,
    "delivery_at": datetime(2026, 11, 22, 12, 3, tzinfo=UTC),
    "delivery_detail": "sendgrid: bounce (bounce) — 5.1.1 550 no such user",
}


def test_the_order_page_shows_what_the_provider_reported() -> None:
    entry = message_entry(outcome(), row(**BOUNCED))
    assert entry.title == "Order confirmation by email to ada@example.com — sent, bounced"
    assert (entry.badge, entry.tone) == ("bounced", "bad")
    assert entry.detail == "bounced 2026-11-22 12:03 UTC (sendgrid: bounce (bounce) — 5.1.1 550 no such user)"
    plain = message_entry(outcome(), row())
    assert (plain.badge, plain.tone) == ("sent", "ok")  # nothing reported yet


def test_the_order_page_shows_an_unconfirmed_send_as_confirmed() -> None:
    confirmed = row(detail="confirmed by sendgrid's delivery callback (processed)")
    entry = message_entry(outcome("unconfirmed: previous attempt was interrupted"), confirmed)
    assert entry.detail == "confirmed by sendgrid's delivery callback (processed)"


async def test_the_timeline_has_an_entry_per_reported_message() -> None:
    runs = from_bundle((HISTORIES / "on_time.json").read_text())
    workflow_id = runs[0].workflow_id
    timeline = await build_timeline(
        workflow_id, runs, CONVERTER, None, None, [row(**BOUNCED), row(idempotency_key="x")]
    )
    [delivery] = [e for e in timeline.entries if e.kind == "delivery"]
    assert delivery.summary == "confirmation by email: bounced"
    assert delivery.at == BOUNCED["delivery_at"] and delivery.by == "sendgrid"
    assert delivery.detail["reported"] == BOUNCED["delivery_detail"]


def test_the_order_page_shows_no_address_once_the_outbox_forgot_it() -> None:
    """Erasure and retention clear the outbox row; the journey's own record still has the address."""
    sent = message_entry(outcome(), row(recipient=None))
    assert sent.title == "Order confirmation by email — sent" and "ada" not in sent.detail
    skipped_outcome = outcome().model_copy(
        update={"status": MessageStatus.SKIPPED, "skip_reason": SkipReason.OPTED_OUT,
                "detail": "ada@example.com opted out of email"}
    )  # fmt: skip
    skipped = message_entry(skipped_outcome, row(recipient=None, detail="[erased] opted out of email"))
    assert "ada" not in skipped.title + skipped.detail
