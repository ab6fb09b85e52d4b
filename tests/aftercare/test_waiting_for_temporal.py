"""A worker started before Temporal waits for it, saying where it looks (address and namespace), and starts
polling once a server appears; a caller that sets a limit gets an error after it, not a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aftercare.runtime import upgrade_database
from aftercare.settings import REPO_ROOT, Settings
from aftercare.temporal_client import connect
from tests.conftest import TEST_CODEC_KEYS, venv_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(text: str, log: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace") if log.exists() else ""
        if text in content:
            return content
        assert process.poll() is None, f"the worker exited ({process.returncode}):\n{content}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the worker's log after {timeout}s:\n{log.read_text(errors='replace')}")


async def test_a_limited_wait_gives_up_with_the_connect_error(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings().model_copy(update=dict(temporal_port=free_port(), namespace="shop-ns"))
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="connect"):
        await connect(settings, component="test", give_up_after=1.0)
    assert time.monotonic() - started < 10
    waits = [r.getMessage() for r in caplog.records if "waiting for Temporal" in r.getMessage()]
    assert len(waits) >= 2  # it retried, with back-off
    assert waits[0].startswith(f"waiting for Temporal at {settings.temporal_address} (namespace shop-ns)")


@pytest.mark.devserver
def test_a_worker_started_before_temporal_waits_then_polls(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "AFTERCARE_HOME": str(tmp_path),
        "AFTERCARE_DATABASE_URL": f"sqlite:///{tmp_path / 'aftercare.db'}",
        "AFTERCARE_TEMPORAL_HOST": "127.0.0.1",
        "AFTERCARE_TEMPORAL_PORT": str(port),
        "AFTERCARE_TASK_QUEUE": "waiting-test",
        "AFTERCARE_CODEC_KEYS": TEST_CODEC_KEYS,
    }
    upgrade_database(
        Settings().model_copy(update=dict(database_url=env["AFTERCARE_DATABASE_URL"]))
    )  # the deploy's first step
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    server: subprocess.Popen[bytes] | None = None
    try:
        text = wait_for("waiting for Temporal", log, worker, timeout=30)
        assert f"waiting for Temporal at 127.0.0.1:{port} (namespace default)" in text
        time.sleep(2)
        assert worker.poll() is None  # still waiting, not gone
        server = subprocess.Popen(
            [venv_binary("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(port), "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for("worker polling task queue 'waiting-test'", log, worker, timeout=90)
    finally:
        for process in (worker, server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
