"""What every webhook check does alike, carriers' pushes and messaging providers' callbacks: find a header
whatever its case, and compare what the vendor sent with what we expect in constant time.

Each vendor's `webhook.py` keeps its own rule (which header, which key, what is signed, its words when
refusing); these two are the steps that read the same for all.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (Starlette's headers are case-insensitive, a dict is not)."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def same(given: str, expected: str) -> bool:
    """Whether a signature, token or password the vendor sent is the one we expect, in constant time (a plain
    `==` tells an attacker, by how long it takes, how much of a guess was right)."""
    return hmac.compare_digest(given.encode(), expected.encode())
