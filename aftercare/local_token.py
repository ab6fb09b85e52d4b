"""The local stack's own admin token: made once, kept in a file only its owner can read.

`aftercare up` and `aftercare demo` use it so that a fresh checkout works with no setup, and the console
login page can say where to find it. It is for the embedded stack on this machine; real deployments create
their tokens with `aftercare token create`.
"""

from __future__ import annotations

import os
from pathlib import Path

from aftercare.settings import Settings
from domain import Role
from storage.repository import Store

LOCAL_TOKEN_NAME = "local-admin"


def token_path(settings: Settings) -> Path:
    return settings.home / "admin.token"


def ensure_local_token(settings: Settings, store: Store) -> str:
    """The token in `token_path`, if the database still knows it; otherwise a new one written there (0600)."""
    path = token_path(settings)
    if path.exists():
        token = path.read_text().strip()
        if token and store.authenticate(token) is not None:
            return token
    store.revoke_api_token(LOCAL_TOKEN_NAME)  # a stale file (database reset): start again
    token = store.create_api_token(LOCAL_TOKEN_NAME, Role.ADMIN).token
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    return token
