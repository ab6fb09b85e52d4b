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


def test_python_m_sandbox_serves_and_stops_on_ctrl_c():
    secret = "whsec-cli-0123456789"
    env = os.environ | {"AFTERCARE_EASYPOST_API_KEY": "cli-key,other-key", "AFTERCARE_EASYPOST_WEBHOOK_SECRET": secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--http-port", "0", "--smtp-port", "0", "--log-level", "warning",
         "--webhook-url", "http://127.0.0.1:9/none"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        banner = ""
        assert proc.stdout is not None
        deadline = time.monotonic() + 10
        while "Ctrl+C" not in banner and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner += line
        outbox = re.search(r"Outbox\s+(http://\S+)/outbox", banner)
        smtp = re.search(r"SMTP\s+([\d.]+):(\d+)", banner)
        assert outbox and smtp, banner
        base = outbox.group(1)

        assert httpx.get(f"{base}/healthz").json()["webhook_url"] == "http://127.0.0.1:9/none"
        assert httpx.post(f"{base}/easypost/v2/trackers", auth=("cli-key", ""),
                          json={"tracker": {"tracking_code": "CLI0000001"}}).status_code == 201  # fmt: skip
        assert httpx.post(f"{base}/easypost/v2/trackers", auth=("other-key", ""),
                          json={"tracker": {"tracking_code": "CLI0000002"}}).status_code == 201  # fmt: skip
        with smtplib.SMTP(smtp.group(1), int(smtp.group(2)), timeout=5) as client:
            client.sendmail("a@example.com", ["b@example.com"], "Subject: via cli\r\n\r\nhello\r\n")
        assert "via cli" in httpx.get(f"{base}/outbox").text
        # the keys and the webhook secret came from the environment: nothing secret on the command line
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"cli-key" not in cmdline and secret.encode() not in cmdline

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
