"""The sandbox keeps its outbox (and carrier trackers, opt-outs, webhook deliveries) under AFTERCARE_HOME, so
a restart of the stack still shows what the journeys sent before it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from sandbox import persistence
from sandbox.__main__ import parse_args
from sandbox.runner import run_sandbox
from sandbox.state import ReceivedEmail, SandboxState
from tests.sandbox.test_sandbox_outbox import SID, send_email, send_text


async def test_a_restart_keeps_the_outbox_trackers_and_opt_outs(tmp_path: Path) -> None:
    state_dir = tmp_path / "sandbox"
    async with run_sandbox(http_port=0, smtp_port=0, webhook_url="http://127.0.0.1:9/none", state_dir=state_dir) as box:
        send_email(box, "Order confirmed", html="<p>Thanks!</p>")
        await send_text(box, "+14155550100", "Out for delivery today")
        async with httpx.AsyncClient(base_url=box.http_url) as client:
            opted = await client.post("/_sandbox/twilio/opt-out", json={"number": "+14155550199"})
            assert opted.status_code == 200, opted.text
            scan = await client.post(
                "/_sandbox/easypost/trackers/EZ1000000001/scan",
                json={"status": "in_transit", "status_detail": "departed_facility", "message": "Departed"},
            )
            assert scan.status_code == 200, scan.text

    async with run_sandbox(http_port=0, smtp_port=0, webhook_url="http://127.0.0.1:9/none", state_dir=state_dir) as box:
        async with httpx.AsyncClient(base_url=box.http_url) as client:
            outbox = (await client.get("/outbox.json")).json()
            page = (await client.get("/outbox")).text
            tracker = await client.get(
                "/easypost/v2/trackers", params={"tracking_code": "EZ1000000001"}, auth=("sandbox-key", "")
            )
            refused = await client.post(
                f"/twilio/2010-04-01/Accounts/{SID}/Messages.json",
                data={"To": "+14155550199", "From": "+15005550006", "Body": "still opted out?"},
                auth=(SID, "t"),
            )
        send_email(box, "Your parcel shipped")  # new mail numbers on from the kept ones
        assert [e.id for e in box.state.emails] == [1, 2]

    [email] = outbox["emails"]
    assert email["subject"] == "Order confirmed" and email["html"].strip() == "<p>Thanks!</p>"
    assert [t["body"] for t in outbox["texts"]] == ["Out for delivery today"]
    assert [w["tracking_code"] for w in outbox["webhooks"]] == ["EZ1000000001"]
    assert "Order confirmed" in page and "Out for delivery today" in page
    [kept] = tracker.json()["trackers"]
    assert kept["status"] == "in_transit"
    assert refused.status_code >= 400  # the opt-out survived too


async def test_without_a_state_dir_nothing_is_kept(tmp_path: Path) -> None:
    async with run_sandbox(http_port=0, smtp_port=0) as box:
        send_email(box, "Forgotten")
    async with run_sandbox(http_port=0, smtp_port=0) as box:
        assert box.state.emails == []


def test_python_m_sandbox_keeps_state_under_aftercare_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    assert parse_args([]).state_dir == tmp_path / "sandbox"


# -- what reaches the disk, and when ------------------------------------------------------------------


def _email(subject: str) -> ReceivedEmail:
    return ReceivedEmail(
        mail_from="shop@acme.example",
        rcpt_tos=["ada@example.com"],
        from_="shop@acme.example",
        to="ada@example.com",
        subject=subject,
        text=f"text of {subject}",
        html=None,
        message_id=f"<{subject}@test>",
        received_at=datetime(2026, 11, 30, 3, 0, tzinfo=UTC),
    )


def _kept_subjects(directory: Path) -> list[str]:
    lines = (directory / persistence.EMAILS_FILE).read_text().splitlines()
    return [json.loads(line)["subject"] for line in lines]


def test_an_idle_sandbox_writes_nothing_and_new_mail_is_appended(tmp_path: Path) -> None:
    state = SandboxState()
    for subject in ("one", "two"):
        state.add_email(_email(subject))
    written = persistence.save(state, tmp_path)
    state_file, emails_file = tmp_path / persistence.STATE_FILE, tmp_path / persistence.EMAILS_FILE
    before = (state_file.stat().st_ino, state_file.stat().st_mtime_ns, emails_file.stat().st_mtime_ns)

    written = persistence.save(state, tmp_path, written)  # nothing changed: neither file is touched
    assert (state_file.stat().st_ino, state_file.stat().st_mtime_ns, emails_file.stat().st_mtime_ns) == before

    state.add_email(_email("three"))
    persistence.save(state, tmp_path, written)
    assert _kept_subjects(tmp_path) == ["one", "two", "three"]
    assert state_file.stat().st_ino == before[0]  # the rest did not change: state.json was not rewritten
    assert oct(emails_file.stat().st_mode & 0o777) == "0o600"


def test_an_emptied_and_refilled_outbox_is_rewritten_not_appended(tmp_path: Path) -> None:
    state = SandboxState()
    for subject in ("old-1", "old-2"):
        state.add_email(_email(subject))
    written = persistence.save(state, tmp_path)
    state.clear_outbox()
    for subject in ("new-1", "new-2", "new-3"):  # more than before, numbered from 1 again
        state.add_email(_email(subject))
    persistence.save(state, tmp_path, written)
    assert _kept_subjects(tmp_path) == ["new-1", "new-2", "new-3"]


def test_a_torn_last_line_is_skipped_and_the_file_mended(tmp_path: Path) -> None:
    state = SandboxState()
    for subject in ("one", "two"):
        state.add_email(_email(subject))
    persistence.save(state, tmp_path)
    with (tmp_path / persistence.EMAILS_FILE).open("a") as out:
        out.write('{"subject": "thr')  # killed mid-append

    restored = SandboxState()
    written = persistence.load(restored, tmp_path)
    assert [e.subject for e in restored.emails] == ["one", "two"]
    restored.add_email(_email("three"))
    persistence.save(restored, tmp_path, written)
    assert _kept_subjects(tmp_path) == ["one", "two", "three"]
    assert [e.id for e in restored.emails] == [1, 2, 3]


def test_a_version_1_state_file_still_loads(tmp_path: Path) -> None:
    old = {"version": 1, "emails": [_email("kept").to_json() | {"id": 7}], "texts": [{"body": "hi"}]}
    (tmp_path / persistence.STATE_FILE).write_text(json.dumps(old))
    state = SandboxState()
    written = persistence.load(state, tmp_path)
    assert [(e.id, e.subject) for e in state.emails] == [(7, "kept")] and state.texts == [{"body": "hi"}]
    persistence.save(state, tmp_path, written)
    assert _kept_subjects(tmp_path) == ["kept"]
    assert json.loads((tmp_path / persistence.STATE_FILE).read_text())["version"] == persistence.VERSION


def test_mail_taken_at_once_by_the_sink_and_the_mail_apis_gets_distinct_numbers() -> None:
    state = SandboxState()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: state.add_email(_email(f"m{i}")), range(400)))
    assert sorted(e.id for e in state.emails) == list(range(1, 401))
