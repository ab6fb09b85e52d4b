"""`aftercare codec`: the key an operator makes for a rotation works as a key, and listing the configured keys
shows their ids and order (which one encrypts) but never a key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from aftercare.cli import main
from aftercare.codec import KEYS_ENV, CodecKeys


def test_new_key_prints_a_fresh_entry_that_parses_as_a_256_bit_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codec", "new-key", "--id", "prod-2"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["codec", "new-key", "--id", "prod-2"]) == 0
    second = capsys.readouterr().out.strip()
    [(key_id, key)] = CodecKeys.parse(first).keys
    assert key_id == "prod-2" and len(key) == 32
    assert first != second  # a new key each time


def test_new_key_names_the_day_when_no_id_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codec", "new-key"]) == 0
    key_id = capsys.readouterr().out.strip().split(":", 1)[0]
    assert len(key_id) == 10 and key_id[4] == "-" and key_id[7] == "-"


def test_new_key_refuses_an_id_that_could_not_be_read_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codec", "new-key", "--id", "two words"]) == 2
    assert "--id 'two words' is not a key id" in capsys.readouterr().out


def test_keys_lists_ids_newest_first_without_any_key_material(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = CodecKeys.new_entry("2026-11"), CodecKeys.new_entry("2026-05")
    monkeypatch.setenv(KEYS_ENV, f"{new},{old}")
    assert main(["codec", "keys"]) == 0
    out = capsys.readouterr().out
    assert out.index("2026-11") < out.index("2026-05")
    assert "encrypts and decrypts" in out and "decrypts only" in out
    for entry in (new, old):
        assert entry.split(":", 1)[1] not in out
        assert base64.b64decode(entry.split(":", 1)[1]).hex() not in out


def test_keys_says_there_are_none_yet_instead_of_making_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    assert main(["codec", "keys"]) == 1
    assert "no keys yet" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())
