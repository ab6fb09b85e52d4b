"""`send_message`: one customer message, sent at most once, through the outbox.

Order of work for a request (its `idempotency_key` names the outbox row):

1. claim the outbox row (insert-or-get on the unique key); for an order an operator erased (`aftercare customer
   forget`) without the recipient the journey still holds, and skip it (`opted_out`) unless it is final already;
2. a final row (sent / skipped) -> return what it recorded: a retry never sends twice;
3. a row left in 'sending' with the AWAITING_HANDOVER mark -> the attempt died before its sender's point of
   no return (SMTP: before the final dot of DATA; a killed worker's sends queued for a thread or still connecting): the
   provider cannot have it, so it is sent now, once (compare-and-set on the attempt count);
   a row left in 'sending' without it -> a previous attempt died during the provider call, and the provider
   may have accepted the message. Never twice beats at-least-once: a missing "your parcel shipped" costs
   little, a duplicated one (or a duplicated review request) costs trust. So we settle it (`_settle`):
   where the sender can look the message up at its provider (`MessageLookup`: Twilio, Postmark), we ask;
   found -> sent, confirmed, with the provider's id; the provider says it never got it -> a transactional
   step whose policy allows it (`defaults.resend_unconfirmed`, carried as `req.resend_unconfirmed`) is
   sent again under the same key, once (compare-and-set on the attempt count); anything else (no lookup,
   the lookup failed or could not tell, a marketing step) -> sent-unconfirmed, never resent, and a
   provider's delivery callback may still confirm it;
4. skip, with a reason, when there is no recipient, the recipient is suppressed (a marketing message
   also when the address only takes no marketing: a spam complaint, see storage.deliveries), or a marketing
   message would break the frequency cap (counted on the workflow's clock, `requested_at`, so
   time-skipping tests agree with production; a capped message is not rescheduled);
5. render the template, mark the row 'sending' (compare-and-set: only one attempt gets through),
   call the provider, record the result. A sender with a late point of no return (`CommitsLate`: SMTP)
   gets the row marked AWAITING_HANDOVER and clears the mark (`Store.hand_over`, compare-and-set on this
   attempt's number) right before that point, so 'sending' without the mark means "the provider may have it".

Provider failures (`MessagingError`):
- maybe_sent -> where the sender can look the message up (`MessageLookup`), the row stays 'sending' and a
  retryable `MaybeSent` error is raised: the retry settles it as in 3. (a lost answer is not a lost message);
  elsewhere recorded as sent-unconfirmed, returned (never resent);
- retryable -> row back to 'failed' and the error raised, so Temporal retries; the retry sends once;
- not retryable, the recipient's fault (invalid, unreachable, unsubscribed) -> recorded as skipped,
  returned: reason `opted_out` when the provider says the recipient unsubscribed, else `suppressed`
  (detail = the provider's words). When the provider says the address is gone for good (unsubscribed,
  hard bounce), the address is also suppressed on that channel, so later messages skip before any
  provider call;
- not retryable and NOT the recipient's fault (login refused, no or bad sender, wrong channel,
  account suspended...) -> our setup is broken: the row goes to 'failed' (nothing was sent) and a
  non-retryable `ProviderConfigurationError` is raised, naming the provider and what to fix, so the
  journey records the message as FAILED instead of hiding the breakage behind "customer suppressed".
  A 'failed' row may be sent again: once the setup is fixed, a retry of the same key sends once.

Consent for marketing steps is the workflow's call (it knows the order and the policy); this
activity enforces the cap and suppressions, which need the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.send_decisions import (
    ProviderFailure,
    cap_window,
    check_request,
    classify_provider_error,
    recorded_outcome,
    skip_decision,
    skip_for_recipient_fault,
)
from activities.senders import SenderBook, outgoing_template
from activities.templates import TemplateError, TemplateRenderer
from connectors.messaging.base import (
    CommitsLate,
    MessageLookup,
    MessageSender,
    MessagingError,
    NotCommitted,
    OutgoingMessage,
)
from domain import Channel, MessageOutcome, MessageRequest, MessageStatus, SkipReason
from storage import AWAITING_HANDOVER, OutboxRow, OutboxStatus, Store, SuppressionReason
from storage.repository import effective_marketing

UNCONFIRMED_INTERRUPTED = "unconfirmed: previous attempt was interrupted during the provider call"
UNCONFIRMED_IN_FLIGHT = "unconfirmed: another attempt is sending this message right now"
CONFIRMED_BY_LOOKUP = "confirmed by {provider}'s message lookup after an interrupted attempt"
ERASED_DETAIL = "the customer's personal data was erased (aftercare customer forget)"
RESENT = "sent again: {provider} had no record of it after an interrupted attempt"
NEVER_HANDED_OVER = "sent by a retry: the interrupted attempt never handed it to {provider}"
PROVIDER_CONFIGURATION_ERROR = "ProviderConfigurationError"
MAYBE_SENT = "MaybeSent"


def _aware(at: datetime) -> datetime:
    """Providers' clocks are UTC; a naive timestamp from one is read as UTC, not refused after a send."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- the activity ------------------------------------------------------------------------------------


class MessagingActivities:
    """Holds what `send_message` needs; register `instance.send_message` with the worker."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[Channel, MessageSender] | SenderBook,
        renderer: TemplateRenderer,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        # a plain mapping: the worker's senders per channel, whatever provider a policy names
        self._senders = senders if isinstance(senders, SenderBook) else SenderBook(senders)
        self._renderer = renderer
        self._clock = clock  # wall clock for bookkeeping (sent-unconfirmed time); never for caps

    @activity.defn(name="send_message")
    async def send_message(self, req: MessageRequest) -> MessageOutcome:
        check_request(req)
        key = req.idempotency_key
        erased = await asyncio.to_thread(self._store.order_erased, req.merchant_id, req.order_id)
        if erased:  # the journey still holds the address; the outbox must not get it back
            req = req.model_copy(update={"recipient": None})
        row = await asyncio.to_thread(self._store.claim_message, req)
        done = recorded_outcome(row)
        if done is not None:
            return done
        if erased:
            return await self._skip(req, SkipReason.OPTED_OUT, ERASED_DETAIL)
        if row.status is OutboxStatus.SENDING:
            return await self._settle(req, row)

        skip = await self._skip_decision(req)
        if skip is not None:
            return await self._skip(req, *skip)

        try:
            sender = self._senders.sender_for(req)
        except MessagingError as exc:  # the merchant's credentials are missing or unusable: nothing was sent
            return await self._provider_failed(req, "", self._senders.provider_name(req), exc)
        if sender is None:
            return await self._skip(
                req, SkipReason.NOT_APPLICABLE, f"no {req.channel.value} sender configured in this worker"
            )

        try:
            message = await self._compose(req)
        except TemplateError as exc:
            await asyncio.to_thread(self._store.mark_failed, key, f"template: {exc}")
            raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

        late = isinstance(sender, CommitsLate)
        sending = await asyncio.to_thread(self._store.mark_sending, key, awaiting_handover=late)
        if sending is None:
            # Another attempt moved the row first (e.g. a timed-out attempt still running).
            current = await asyncio.to_thread(self._store.get_message, key)
            assert current is not None
            return recorded_outcome(current) or await self._unconfirmed(req, UNCONFIRMED_IN_FLIGHT)
        return await self._deliver(req, sender, message, sending.attempts)

    async def _compose(self, req: MessageRequest) -> OutgoingMessage:
        """The rendered message for the provider (raises TemplateError). Rendering is pure: an attempt that
        settles an interrupted one composes the very message the interrupted attempt sent."""
        rendered = await asyncio.to_thread(self._renderer.render, req.step, req.channel, req.locale, req.context)
        assert req.recipient is not None  # skip_decision returned no_address otherwise
        return OutgoingMessage(
            channel=req.channel,
            recipient=req.recipient.strip(),
            sender=req.sender or "",  # empty: the connector uses its configured default
            text=rendered.text,
            subject=rendered.subject,
            html=rendered.html,
            idempotency_key=req.idempotency_key,
            template=outgoing_template(req.template, req.context),
            # its own account's credentials: its callbacks are checked with its own secret (api.callback_tenancy)
            callback_merchant=req.merchant_id if req.credentials_env else None,
        )

    async def _deliver(
        self, req: MessageRequest, sender: MessageSender, message: OutgoingMessage, attempts: int, detail: str = ""
    ) -> MessageOutcome:
        """Call the provider for a row this attempt (number `attempts`) moved to 'sending', and record what it
        answered. A late-committing sender hands the row over at its point of no return (`CommitsLate`)."""
        key = req.idempotency_key
        failure: MessagingError | None = None
        try:
            if isinstance(sender, CommitsLate):
                receipt = await sender.send_committed(message, partial(self._store.hand_over, key, attempts))
            else:
                receipt = await sender.send(message)
        except NotCommitted:
            # a later attempt took the row over while this one waited (it was timed out): it sends, not us
            activity.logger.warning("message %s was taken over by a later attempt; not sending from here", key)
            return await self._finish(None, key)
        except MessagingError as exc:
            # Out of the except block, and without the address: what is raised from here is logged with
            # its traceback by the worker, and a chained original would name the recipient again.
            failure = exc.without_recipient(message.recipient)
        # Any other exception leaves the row 'sending': the retry settles it (`_settle`).
        if failure is not None:
            provider = _provider_of(sender)
            if failure.maybe_sent and isinstance(sender, MessageLookup):
                metrics.provider_error(provider, classify_provider_error(failure).value)
                # No answer (a keep-alive connection the provider had closed, a timeout): the row stays 'sending'
                # and the retry asks the provider (`_settle`) rather than recording a guess that is never resent.
                activity.logger.warning("message %s may have been sent (%s); the retry asks %s", key, failure, provider)
                raise ApplicationError(
                    f"{provider} may have taken message {key} ({failure}); the retry looks it up there",
                    type=MAYBE_SENT,
                )
            return await self._provider_failed(req, message.recipient, provider, failure)

        sent = await asyncio.to_thread(
            self._store.mark_sent, key, receipt.provider_message_id, _aware(receipt.accepted_at), detail
        )
        if sent is None:  # cannot happen unless the row was changed by hand meanwhile
            current = await asyncio.to_thread(self._store.get_message, key)
            assert current is not None
            sent = current
        else:
            metrics.message_settled(req.step.value, req.channel.value, "sent")
        activity.logger.info("sent %s by %s: %s", req.step.value, req.channel.value, key)  # no address: PII
        outcome = recorded_outcome(sent)
        assert outcome is not None
        return outcome

    async def _settle(self, req: MessageRequest, row: OutboxRow) -> MessageOutcome:
        """A row an earlier attempt left 'sending'. Still marked AWAITING_HANDOVER: that attempt never reached the
        provider, so it is sent now. Otherwise it died during the provider call: confirmed when the provider has the
        message, sent again once when the provider says it never got it and the step may be resent, else recorded
        as sent-unconfirmed. Never sent twice when the provider has it."""
        key = req.idempotency_key
        try:
            sender = self._senders.sender_for(req)
        except MessagingError:
            sender = None
        if sender is not None and row.detail == AWAITING_HANDOVER and (req.recipient or "").strip():
            provider = _provider_of(sender)
            activity.logger.warning("message %s: the interrupted attempt never handed it over; sending it", key)
            return await self._send_again(req, sender, row, NEVER_HANDED_OVER.format(provider=provider))
        if not isinstance(sender, MessageLookup) or not (req.recipient or "").strip():
            activity.logger.warning("message %s was left 'sending' by an earlier attempt; not resending", key)
            return await self._unconfirmed(req, UNCONFIRMED_INTERRUPTED)
        provider = _provider_of(sender)
        try:
            message = await self._compose(req)
            found = await sender.lookup(message, _aware(row.updated_at))
        except (TemplateError, MessagingError) as exc:
            why = exc.without_recipient(req.recipient or "") if isinstance(exc, MessagingError) else exc
            activity.logger.warning("message %s left 'sending'; %s's lookup could not tell: %s", key, provider, why)
            return await self._unconfirmed(
                req, f"{UNCONFIRMED_INTERRUPTED}; {provider}'s message lookup could not tell: {why}"
            )
        if found is not None:
            activity.logger.info("message %s left 'sending' was found at %s: confirmed", key, provider)
            confirmed = await asyncio.to_thread(
                self._store.mark_sent, key, found.provider_message_id, _aware(found.accepted_at),
                CONFIRMED_BY_LOOKUP.format(provider=provider),
            )  # fmt: skip
            if confirmed is not None:
                metrics.message_settled(req.step.value, req.channel.value, "sent")
            return await self._finish(confirmed, key)
        if effective_marketing(req) or not req.resend_unconfirmed:
            why = "a marketing step" if effective_marketing(req) else "the policy's resend_unconfirmed is never"
            return await self._unconfirmed(
                req, f"unconfirmed: {provider} has no record of it after an interrupted attempt; not sent again ({why})"
            )
        activity.logger.warning(
            "message %s: %s has no record of it after an interrupted attempt; sending again", key, provider
        )
        return await self._send_again(req, sender, row, RESENT.format(provider=provider), message)

    async def _send_again(
        self,
        req: MessageRequest,
        sender: MessageSender,
        row: OutboxRow,
        detail: str,
        message: OutgoingMessage | None = None,
    ) -> MessageOutcome:
        """Send a message an interrupted attempt left 'sending' that is known not to be at the provider, once
        (compare-and-set on the attempt count as read in `row`); skipped if the address was suppressed since."""
        key = req.idempotency_key
        skip = await self._skip_decision(req)
        if skip is not None:
            return await self._skip(req, *skip)
        try:
            message = message or await self._compose(req)
        except TemplateError as exc:  # rendering is pure: the interrupted attempt rendered it, so hardly ever
            await asyncio.to_thread(self._store.mark_failed, key, f"template: {exc}")
            raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc
        late = isinstance(sender, CommitsLate)
        resending = await asyncio.to_thread(self._store.mark_resending, key, row.attempts, awaiting_handover=late)
        if resending is None:
            current = await asyncio.to_thread(self._store.get_message, key)
            assert current is not None
            return recorded_outcome(current) or await self._unconfirmed(req, UNCONFIRMED_IN_FLIGHT)
        return await self._deliver(req, sender, message, resending.attempts, detail)

    async def _skip_decision(self, req: MessageRequest) -> tuple[SkipReason, str] | None:
        if req.recipient is None or not req.recipient.strip():
            return skip_decision(req, None, None)
        suppression = await asyncio.to_thread(self._store.get_suppression, req.channel, req.recipient)
        window = cap_window(req)
        count = None
        if window is not None and suppression in (None, SuppressionReason.NO_MARKETING):
            since, until = window
            count = await asyncio.to_thread(
                self._store.count_marketing_sent, req.merchant_id, req.customer_id, req.channel, since, until
            )
        return skip_decision(req, suppression, count)

    async def _provider_failed(
        self, req: MessageRequest, recipient: str, provider: str, exc: MessagingError
    ) -> MessageOutcome:
        key, channel = req.idempotency_key, req.channel.value
        action = classify_provider_error(exc)
        metrics.provider_error(provider, action.value)
        if action is ProviderFailure.UNCONFIRMED:
            activity.logger.warning("message %s may have been sent (%s); recording it as sent", key, exc)
            return await self._unconfirmed(req, f"unconfirmed: {exc}")
        if action is ProviderFailure.RECIPIENT:
            reason, suppression = skip_for_recipient_fault(exc)
            activity.logger.warning("%s refused the recipient of message %s for good: %s", provider, key, exc)
            outcome = await self._skip(req, reason, f"provider refused the recipient: {exc}")
            if suppression is not None:
                # After the skip is recorded: a failure here loses only the suppression, and the next
                # message to this address meets the same refusal and records it then.
                try:
                    await asyncio.to_thread(self._store.suppress, req.channel, recipient, suppression)
                except Exception:
                    activity.logger.exception("could not record the %s suppression for message %s", suppression, key)
            return outcome
        if action is ProviderFailure.CONFIGURATION:
            await asyncio.to_thread(self._store.mark_failed, key, f"provider configuration: {exc}")
            activity.logger.error(
                "%s cannot send %s message %s, configuration problem: %s", provider, channel, key, exc
            )
            raise ApplicationError(
                f"{provider} cannot send {channel} messages with the current setup: {exc}. Nothing was sent, and"
                f" the recipient is not at fault: fix the {provider} configuration for {channel} (credentials,"
                " sender, account) and retry; the message is kept as 'failed' and a retry sends it once.",
                {"provider": provider, "channel": channel, "idempotency_key": key},
                type=PROVIDER_CONFIGURATION_ERROR,
                non_retryable=True,
            ) from exc
        await asyncio.to_thread(self._store.mark_failed, key, f"provider failed, will retry: {exc}")
        raise exc

    async def _skip(self, req: MessageRequest, reason: SkipReason, detail: str) -> MessageOutcome:
        key = req.idempotency_key
        row = await asyncio.to_thread(self._store.mark_skipped, key, reason, detail)
        if row is not None:  # this attempt settled it: counted once, not again by a retry reading the row
            metrics.message_settled(req.step.value, req.channel.value, "skipped", reason.value)
        return await self._finish(row, key)

    async def _unconfirmed(self, req: MessageRequest, detail: str) -> MessageOutcome:
        key = req.idempotency_key
        row = await asyncio.to_thread(self._store.mark_unconfirmed, key, self._clock(), detail)
        if row is not None:
            metrics.message_settled(req.step.value, req.channel.value, "unconfirmed")
        return await self._finish(row, key)

    async def _finish(self, row: OutboxRow | None, key: str) -> MessageOutcome:
        """The outcome of the row we just moved. If another attempt moved it first, report what it is
        now: final -> its outcome; still 'sending' elsewhere -> sent-unconfirmed (not written, the
        other attempt records the truth); back to pending/failed -> retry and decide afresh."""
        if row is None:
            row = await asyncio.to_thread(self._store.get_message, key)
            assert row is not None
        outcome = recorded_outcome(row)
        if outcome is not None:
            return outcome
        if row.status is OutboxStatus.SENDING:
            return MessageOutcome.of(row, MessageStatus.SENT, self._clock(), detail=UNCONFIRMED_IN_FLIGHT)
        raise ApplicationError(
            f"outbox row {key} changed to {row.status.value} under us; trying again", type="OutboxRace"
        )


def _provider_of(sender: MessageSender) -> str:
    """The provider a sender speaks for, as errors, logs and metrics name it."""
    return str(getattr(sender, "provider", type(sender).__name__))
