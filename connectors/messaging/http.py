"""The one HTTP POST every messaging API connector makes, and what a failure to get an answer means.

A request that never reached the provider (refused connection, connect timeout) was not sent: retry.
A request that went out and whose answer was lost may have been accepted: `maybe_sent`, never resent.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.messaging.base import MessagingError


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


def json_object(resp: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when it is not one (an HTML error page, an empty body)."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def wrong_base_url(vendor: str, status: int, base_url: str) -> MessagingError:
    """A 404/405 without the vendor's error body: the URL points somewhere that is not the vendor's API."""
    return MessagingError(
        f"{vendor} answered HTTP {status} without its error body: the base URL {base_url} looks wrong"
        " (check the AFTERCARE_*_BASE_URL setting)",
        retryable=False,
    )
