"""No personal data or secret in a log: a failing send through a real worker names no customer address, a
token in a query string does not reach uvicorn's access log, and the redaction catches what slips through."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from uvicorn.logging import AccessFormatter

from activities.messaging import MessagingActivities
from activities.templates import TemplateRenderer
from aftercare.logs import RedactingFilter, install_redaction, redact
from connectors.messaging.smtp import SmtpEmailSender
from connectors.messaging.twilio import TwilioSender
from domain import Channel, Customer, MessageOutcome, MessageRequest, Order
from sandbox import RunningSandbox, run_sandbox
from storage import Store
from tests.activities.conftest import CONTEXT, T0, TEMPLATES
from tests.activity_workers import execute, running_worker

EMAIL = "ada.lovelace@analytical-engine.example"
PHONE = "+14155550123"
TWO_QUICK_TRIES = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=2)


@workflow.defn(sandboxed=False)
class SendTwice:
    """Two messages, each allowed two attempts: what a journey's messenger does with a failing provider."""

    @workflow.run
    async def run(self, requests: list[MessageRequest]) -> list[str]:
        seen = []
        for req in requests:
            try:
                outcome = await execute("send_message", req, MessageOutcome, TWO_QUICK_TRIES)
                seen.append(f"{outcome.status}: {outcome.detail}")
            except ActivityError as err:
                assert isinstance(err.cause, ApplicationError)
                seen.append(f"failed: {err.cause.message}")
        return seen


def request(key: str, channel: Channel, recipient: str) -> MessageRequest:
    return MessageRequest.model_validate(
        {
            "idempotency_key": key,
            "merchant_id": "acme",
            "order_id": "1001",
            "customer_id": "c-1",
            "step": "confirmation",
            "channel": channel,
            "recipient": recipient,
            "locale": "en",
            "requested_at": T0,
            "context": CONTEXT,
            "policy_hash": "sha256:test",
            "sender": "shop@acme.example" if channel is Channel.EMAIL else "+15005550006",
        }
    )


class Everything(logging.Handler):
    """Every record any logger makes, formatted as a log file would have it (traceback included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logged() -> Iterator[Everything]:
    root = logging.getLogger()
    handler, level = Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_failing_send_names_no_customer_address_in_errors_or_logs(
    time_skipping_env: WorkflowEnvironment, store: Store, logged: Everything, capfd: pytest.CaptureFixture[str]
) -> None:
    install_redaction()  # what the worker does at start (aftercare.logs.configure_logging)
    async with run_sandbox("127.0.0.1", 0, 0, "http://unused", "test-webhook-secret") as sandbox:
        # Providers echo the address in their answers, as real ones do: a mailbox that is busy (retried,
        # then given up), and a number Twilio calls invalid.
        for _ in range(2):
            sandbox.state.smtp_fail_next.append(
                {"stage": "rcpt", "code": 450, "message": f"4.2.1 <{EMAIL}>: mailbox busy, try later"}
            )
        sandbox.state.twilio_fail_next.append(
            {
                "status_code": 400,
                "code": 21614,
                "message": f"The 'To' number {PHONE} is not a mobile number",
                "count": 1,
                "delay_seconds": 0,
            }
        )
        seen = await send_through_a_worker(time_skipping_env, store, sandbox)

    assert seen[0].startswith("failed: ") and "450 4.2.1" in seen[0]  # what happened is still said...
    assert "skipped: " in seen[1] and "21614" in seen[1]
    rows = [store.get_message(key) for key in ("k-email", "k-sms")]
    # the sources: what the journey and the outbox keep of the failures names nobody (no log filter involved)
    for text in [*seen, *(r.detail for r in rows if r)]:
        assert EMAIL not in text and PHONE not in text, text
    everything = "\n".join([*seen, *logged.lines, *(r.detail for r in rows if r), *capfd.readouterr()])
    assert "Completing activity as failed" in everything  # the worker did log the failure, with its traceback
    assert "Traceback" in everything
    for secret in (EMAIL, EMAIL.split("@")[0], PHONE, PHONE[1:]):  # ...but never to whom
        assert secret not in everything


async def send_through_a_worker(env: WorkflowEnvironment, store: Store, sandbox: RunningSandbox) -> list[str]:
    senders: dict[Channel, Any] = {
        Channel.EMAIL: SmtpEmailSender(sandbox.smtp_host, sandbox.smtp_port, timeout=2),
        Channel.SMS: TwilioSender(Channel.SMS, sandbox.twilio_base_url, "AC" + "0" * 32, "token"),
    }
    messaging = MessagingActivities(store, senders, TemplateRenderer(TEMPLATES))
    async with running_worker(env, "logs", [SendTwice], [messaging.send_message]) as queue:
        return await env.client.execute_workflow(
            SendTwice.run,
            [request("k-email", Channel.EMAIL, EMAIL), request("k-sms", Channel.SMS, PHONE)],
            id=f"send-{uuid.uuid4()}",
            task_queue=queue,
        )


def test_a_validation_error_does_not_echo_the_customer() -> None:
    broken = EMAIL.replace("@", " at ")
    for build in (
        lambda: Customer.model_validate({"id": "c-1", "email": broken}),
        lambda: Order.model_validate({"merchant_id": "acme", "customer": {"id": "c-1", "email": broken}}),
        lambda: MessageRequest.model_validate({**request("k", Channel.EMAIL, EMAIL).model_dump(), "context": [EMAIL]}),
    ):
        with pytest.raises(ValueError) as raised:
            build()
        assert "value is not a valid email address" in str(raised.value) or "valid dictionary" in str(raised.value)
        assert broken not in str(raised.value) and EMAIL not in str(raised.value)


def test_a_token_in_a_query_string_does_not_reach_the_access_log() -> None:
    install_redaction()
    access = logging.getLogger("uvicorn.access")
    # exactly what uvicorn's httptools/h11 protocols log for one request
    record = access.makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50000", "GET", "/v1/orders?token=ac_adm_s3cr3tValue&merchant_id=acme&api_key=k123", "1.1", 200),
        None,
    )
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    redacted = "/v1/orders?token=[redacted]&merchant_id=acme&api_key=[redacted]"
    assert line == f'127.0.0.1:50000 - "GET {redacted} HTTP/1.1" 200 OK'


async def test_a_real_uvicorn_access_log_holds_no_query_secret(capfd: pytest.CaptureFixture[str]) -> None:
    import asyncio

    import uvicorn
    from fastapi import FastAPI

    install_redaction()
    app = FastAPI()

    @app.get("/hook")
    async def hook() -> dict[str, str]:
        return {"ok": "yes"}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info", access_log=True))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/hook?hub.verify_token=vt-123456&signature=abc&x=1")
        assert answer.status_code == 200
    finally:
        server.should_exit = True
        await serving
    out = "".join(capfd.readouterr())
    assert "GET /hook?hub.verify_token=[redacted]&signature=[redacted]&x=1 HTTP/1.1" in out
    assert "vt-123456" not in out and "abc" not in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refused <Ada.Lovelace+shop@Example.co.uk>: 550", "refused <[email]>: 550"),
        ("input_value='jürgen@bücher.example'", "input_value='[email]'"),
        ("To whatsapp:+4915112345678 failed", "To whatsapp:[phone] failed"),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [token]"),
        ("token ac_sup_Zx9-abcDEF_123 used", "token [token] used"),
        ("GET /x?session=abc&q=1&secret_key=zz#top", "GET /x?session=[redacted]&q=1&secret_key=[redacted]#top"),
        ("order 1001 at 2026-11-22 12:00:00+00:00, total 59.90, HTTP 500", None),  # nothing personal: untouched
        ("workflow order-acme-1001 run by 10483@vm", None),
    ],
)
def test_redact(text: str, expected: str | None) -> None:
    assert redact(text) == (text if expected is None else expected)


def test_the_filter_redacts_arguments_objects_and_tracebacks() -> None:
    class Person:
        def __repr__(self) -> str:
            return f"Person(email={EMAIL!r})"

    try:
        raise RuntimeError(f"could not reach {PHONE}")
    except RuntimeError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "for %r: %s", (Person(), EMAIL), sys.exc_info()
        )
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "for Person(email='[email]'): [email]" in text and "could not reach [phone]" in text
    assert EMAIL not in text and PHONE not in text
