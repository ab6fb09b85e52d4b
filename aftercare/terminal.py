"""The console every `aftercare` command prints with: wide when piped (CI logs, files), so table rows,
long paths and tokens are never wrapped mid-line."""

from __future__ import annotations

from rich.console import Console


def wide_console(*, stderr: bool = False) -> Console:
    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal:
        console.width = max(console.width, 200)
    return console
