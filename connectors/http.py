"""What every connector's proxy holds to talk HTTP: the vendor's base URL, a client and the timeout.

A proxy given an `httpx.AsyncClient` shares it (and its pool) and leaves closing it to its owner; one given
none makes its own and closes it in `aclose`.
"""

from __future__ import annotations

import httpx


class VendorHttp:
    """The base of a connector's proxy class: `base_url` (no trailing slash), `_http`, `_timeout`, `aclose`."""

    def __init__(self, base_url: str, http: httpx.AsyncClient | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._timeout = timeout

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
