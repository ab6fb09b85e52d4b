"""AFTERCARE_HOME is private: the database, logs, codec keys and the admin token are for its owner only.

Everything Aftercare keeps there would help someone else on the machine: customers' names and emails in
the database and the Temporal store, keys that decrypt every history, a token that acts as admin. So the
processes that write there (`aftercare up` and its children, the worker, the API) start with a umask of
077, which makes every file they create 0600 and every directory 0700, and on start put right what an
older version or another tool left readable.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def secure_home(home: Path) -> None:
    """Set this process's umask (children inherit it), create `home` 0700, and take group and others'
    access away from everything under it. Symbolic links are left alone (and not followed)."""
    os.umask(PRIVATE_UMASK)
    home.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    _private(home, DIRECTORY_MODE)
    for root, dirs, files in os.walk(home):
        for name in dirs:
            _private(Path(root) / name, DIRECTORY_MODE)
        for name in files:
            _private(Path(root) / name, FILE_MODE)


def _private(path: Path, mode: int) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & ~0o077 | (mode & 0o700))
