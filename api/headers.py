"""Security headers on every response, and a strict Content-Security-Policy on every HTML page.

Every response says `X-Content-Type-Options: nosniff` (a JSON body is never run as a script) and
`Referrer-Policy: same-origin` (links out of the console do not carry order ids to other sites). Every
HTML page gets a CSP that lets it load scripts, styles, images and fonts from this origin only — nothing
from a CDN — send forms to this origin only, and be framed by nobody (`frame-ancestors 'none'`, and
`X-Frame-Options: DENY` for older browsers). Our own pages have no inline script or style; a page that
does (FastAPI's /docs) gets exactly its own inline blocks allowed by their SHA-256, which is what CSP
offers instead of 'unsafe-inline', so an injected script still does not run.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
}
HTML_ONLY = {b"x-frame-options": b"DENY"}
# <script>...</script> without src, and <style>...</style>: the inline blocks a page carries
_INLINE = re.compile(rb"<(script|style)(?![^>]*\bsrc\s*=)[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)


def content_security_policy(html: bytes) -> str:
    """The policy for one page: our origin only, plus the hashes of the page's own inline blocks."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        hashes[kind.decode().lower()].append(f"'sha256-{digest}'")
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *hashes["script"]]),
            " ".join(["style-src 'self'", *hashes["style"]]),
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware: the common headers on every response; HTML bodies are held until complete (pages
    are small) so that their CSP can name their inline blocks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in COMMON]
                headers += list(COMMON.items())
                message = {**message, "headers": headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                headers = [(k, v) for k, v in start["headers"] if k.lower() not in HTML_ONLY]
                headers += [*HTML_ONLY.items(), (b"content-security-policy", content_security_policy(body).encode())]
                await send({**start, "headers": headers})
                message = {"type": "http.response.body", "body": body, "more_body": False}
            await send(message)

        await self.app(scope, receive, wrapped)
