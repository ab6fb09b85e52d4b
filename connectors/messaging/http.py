"""The one HTTP POST every messaging API connector makes, and what a failure to get an answer means.

A request that never reached the provider (refused connection, connect timeout) was not sent: retry.
A request that went out and whose answer was lost may have been accepted: `maybe_sent`, never resent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from domain import Channel


async def post(
    http: httpx.AsyncClient, url: str, *, vendor: str, base_url: str, timeout: float, **request: Any
) -> httpx.Response:
    try:
        return await http.post(url, timeout=timeout, **request)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise MessagingError(f"{vendor} unreachable at {base_url}: {exc!r}", retryable=True) from exc
    except httpx.TransportError as exc:
        raise MessagingError(
            f"{vendor} did not answer after the request was sent ({exc!r}); the message may have gone out",
            retryable=True,
            maybe_sent=True,
        ) from exc


async def read(http: httpx.AsyncClient, url: str, *, what: str, timeout: float, **request: Any) -> httpx.Response:
    """A GET that only reads (a message lookup): no answer means we cannot tell, and asking again may."""
    try:
        return await http.get(url, timeout=timeout, **request)
    except httpx.TransportError as exc:
        raise MessagingError(f"{what} could not be read: {exc!r}", retryable=True) from exc


def json_object(resp: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when it is not one (an HTML error page, an empty body)."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def check_base_url(resp: httpx.Response, body: dict[str, Any], *, vendor: str, error_field: str, base_url: str) -> None:
    """Raise when a 404/405 comes without the vendor's error body (`error_field` missing): the URL points somewhere
    that is not the vendor's API."""
    if resp.status_code in (404, 405) and error_field not in body:
        raise MessagingError(
            f"{vendor} answered HTTP {resp.status_code} without its error body: the base URL {base_url} looks wrong"
            " (check the AFTERCARE_*_BASE_URL setting)",
            retryable=False,
        )


def email_sender(message: OutgoingMessage, vendor: str, default_sender: str | None) -> str:
    """The From address of an email `message`: its own, else the sender's default; MessagingError when the message
    is not an email or no address is set (both our configuration, never worth a retry)."""
    if message.channel is not Channel.EMAIL:
        raise MessagingError(f"{vendor} sends email, not {message.channel}", retryable=False)
    sender = message.sender or default_sender
    if not sender:
        raise MessagingError("no From address: set the policy's email sender (channels.email.sender)", retryable=False)
    return sender


def receipt(message_id: Any, *, vendor: str, status: int, naming: str) -> SendReceipt:
    """The receipt of a send the vendor accepted, under its message id; an accepting answer without one (`naming`
    says what it lacks) may still have sent the message: retryable, `maybe_sent`, never resent blindly."""
    if not message_id:
        raise MessagingError(f"{vendor} answered HTTP {status} without {naming}", retryable=True, maybe_sent=True)
    return SendReceipt(provider_message_id=str(message_id), accepted_at=datetime.now(UTC))
