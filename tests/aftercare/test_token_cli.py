"""`aftercare token create|list|revoke` against the database in AFTERCARE_DATABASE_URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from aftercare.cli import main
from domain import Actor, Role
from storage import Store

TOKEN = re.compile(r"^(ac_[a-z]{3}_[A-Za-z0-9_-]{40,})$", re.MULTILINE)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'aftercare.db'}"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store.open(db_url)
    yield store
    store.close()


def create(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["token", "create", *args]) == 0
    out = capsys.readouterr().out
    found = TOKEN.findall(out)
    assert len(found) == 1, out
    return found[0]


def test_create_prints_the_token_once_and_it_authenticates(
    db_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--name", "alice", "--role", "support"]) == 0
    out = capsys.readouterr().out
    [token] = TOKEN.findall(out)
    assert token.startswith("ac_sup_")
    assert "Created support token 'alice'" in out
    assert "cannot be shown again" in out and "stores only its hash" in out
    assert store.authenticate(token) == Actor(name="alice", role=Role.SUPPORT)

    merchant = create(capsys, "--name", "acme-shop", "--role", "MERCHANT", "--merchant", "acme")
    assert store.authenticate(merchant) == Actor(name="acme-shop", role=Role.MERCHANT, merchant_id="acme")


def test_list_shows_a_table_without_secrets(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "list"]) == 0
    assert "No API tokens yet" in capsys.readouterr().out

    alice = create(capsys, "--name", "alice", "--role", "support")
    create(capsys, "--name", "acme-shop", "--role", "merchant", "--merchant", "acme")
    store.authenticate(alice)
    assert main(["token", "revoke", "alice"]) == 0
    capsys.readouterr()

    assert main(["token", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "role", "merchant", "prefix", "created", "last", "used", "revoked"]
    alice_row, shop_row = (line.split() for line in lines[1:3])
    assert alice_row[:4] == ["alice", "support", "-", alice[:11] + "…"]
    assert "never" not in alice_row and alice_row[-1] == "UTC"  # used, then revoked: both dated
    assert shop_row[:3] == ["acme-shop", "merchant", "acme"]
    assert shop_row[-2:] == ["never", "-"]
    assert alice not in "\n".join(lines) and alice[11:] not in "\n".join(lines)


def test_revoke_stops_the_token_and_says_when_there_is_nothing_to_revoke(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create(capsys, "--name", "alice", "--role", "engineer")
    assert main(["token", "revoke", "alice"]) == 0
    assert "Revoked token 'alice'" in capsys.readouterr().out
    assert store.authenticate(token) is None

    assert main(["token", "revoke", "alice"]) == 1
    assert "no active token named 'alice'" in capsys.readouterr().err


def test_a_bad_role_lists_the_valid_ones(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--name", "x", "--role", "boss"]) == 2
    captured = capsys.readouterr()
    assert "unknown role 'boss': use one of support, merchant, engineer, admin" in captured.err
    assert captured.out == ""


def test_a_database_behind_is_refused_with_the_command_to_run(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--name", "alice", "--role", "support"]) == 1
    err = capsys.readouterr().err
    assert "has no Aftercare schema yet" in err and "Run `aftercare db upgrade`" in err
    assert main(["db", "upgrade"]) == 0
    create(capsys, "--name", "alice", "--role", "support")


def test_refusals_name_the_option_at_fault(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--name", "shop", "--role", "merchant"]) == 2
    assert "--merchant is required for a merchant token" in capsys.readouterr().err
    assert main(["token", "create", "--name", "bob", "--role", "support", "--merchant", "acme"]) == 2
    assert "--merchant is only for merchant tokens" in capsys.readouterr().err

    create(capsys, "--name", "alice", "--role", "support")
    assert main(["token", "create", "--name", "alice", "--role", "admin"]) == 1
    err = capsys.readouterr().err
    assert "already named 'alice'" in err and "aftercare token revoke alice" in err
