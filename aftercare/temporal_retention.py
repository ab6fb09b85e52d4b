"""Temporal's half of retention: how long it keeps a closed journey's history (which holds the customer's data,
encrypted) before deleting it, from AFTERCARE_RETENTION_DAYS capped at what Temporal Cloud accepts (90 days).

`aftercare up` sets it on its dev server with the `temporal` CLI; compose's one-shot temporal-setup does the same
on the cluster (deploy/temporal/setup.sh); on Temporal Cloud it is the namespace's setting (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import subprocess
import time

from aftercare.settings import MAX_NAMESPACE_RETENTION_DAYS, Settings


def namespace_retention_days(settings: Settings) -> int:
    """The namespace retention Aftercare asks for: AFTERCARE_RETENTION_DAYS, at most MAX_NAMESPACE_RETENTION_DAYS."""
    return min(settings.retention_days, MAX_NAMESPACE_RETENTION_DAYS)


def retention_update(settings: Settings, temporal_bin: str) -> list[str]:
    """The `temporal` command line that sets the namespace's retention (in hours: the CLI takes Go durations)."""
    return [
        temporal_bin, "operator", "namespace", "update",
        "--namespace", settings.namespace,
        "--retention", f"{namespace_retention_days(settings) * 24}h",
        "--address", settings.temporal_address,
    ]  # fmt: skip


def apply_namespace_retention(settings: Settings, temporal_bin: str, timeout: float = 30.0) -> str | None:
    """Set the namespace's retention, retrying while a server that just opened its port registers the namespace;
    None when done, else what the CLI said last (for a warning: a dev stack runs on without it)."""
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(retention_update(settings, temporal_bin), capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return None
        if time.monotonic() > deadline:
            said = (done.stderr or done.stdout).strip()
            return said.splitlines()[-1] if said else f"exit status {done.returncode}"
        time.sleep(0.5)
