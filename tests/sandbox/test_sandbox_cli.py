"""`python -m sandbox` starts every stand-in in one process, says where, and stops on Ctrl+C."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SECRET = "whsec-cli-0123456789"


def start(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """`python -m sandbox` on free ports with its state in `state_dir`; the process and its banner."""
    env = os.environ | {"AFTERCARE_EASYPOST_API_KEY": "cli-key,other-key", "AFTERCARE_EASYPOST_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--http-port", "0", "--smtp-port", "0", "--log-level", "warning",
         "--webhook-url", "http://127.0.0.1:9/none", "--state-dir", str(state_dir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    banner = ""
    assert proc.stdout is not None
    deadline = time.monotonic() + 10
    while "Ctrl+C" not in banner and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner += line
    return proc, banner


def test_python_m_sandbox_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc, banner = start(tmp_path / "sandbox")
    try:
        outbox = re.search(r"Outbox\s+(http://\S+)/outbox", banner)
        smtp = re.search(r"SMTP\s+([\d.]+):(\d+)", banner)
        assert outbox and smtp, banner
        base = outbox.group(1)

        assert httpx.get(f"{base}/healthz").json()["webhook_url"] == "http://127.0.0.1:9/none"
        assert httpx.post(f"{base}/easypost/v2/trackers", auth=("cli-key", ""),
                          json={"tracker": {"tracking_code": "CLI0000001"}}).status_code == 201  # fmt: skip
        with smtplib.SMTP(smtp.group(1), int(smtp.group(2)), timeout=5) as client:
            client.sendmail("a@example.com", ["b@example.com"], "Subject: via cli\r\n\r\nhello\r\n")
        assert "via cli" in httpx.get(f"{base}/outbox").text
        assert httpx.post(f"{base}/easypost/v2/trackers", auth=("other-key", ""),
                          json={"tracker": {"tracking_code": "CLI0000002"}}).status_code == 201  # fmt: skip
        # the keys and the webhook secret came from the environment: nothing secret on the command line
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"cli-key" not in cmdline and SECRET.encode() not in cmdline

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        stop(proc)

    # Started again on the same state directory: the outbox and the tracker are still there.
    proc, banner = start(tmp_path / "sandbox")
    try:
        outbox = re.search(r"Outbox\s+(http://\S+)/outbox", banner)
        assert outbox, banner
        base = outbox.group(1)
        assert [e["subject"] for e in httpx.get(f"{base}/outbox.json").json()["emails"]] == ["via cli"]
        query = {"tracking_code": "CLI0000001"}
        tracker = httpx.get(f"{base}/easypost/v2/trackers", auth=("cli-key", ""), params=query)
        assert [t["tracking_code"] for t in tracker.json()["trackers"]] == ["CLI0000001"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        stop(proc)
    assert oct((tmp_path / "sandbox" / "state.json").stat().st_mode & 0o777) == "0o600"


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
