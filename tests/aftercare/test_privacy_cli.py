"""`aftercare customer forget` (what it accepts, and what it says when nobody matches) and `aftercare db prune`,
against the database in AFTERCARE_DATABASE_URL. Forgetting a customer with a running journey: tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from aftercare.cli import main
from aftercare.privacy_cli import AddressError, parse_address
from storage import Store
from storage.base import ORDERS
from storage.types import utcnow
from tests.storage.conftest import make_order


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'aftercare.db'}"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path / "home"))
    store = Store.open(url)
    yield store
    store.close()


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("  Ada.Lovelace@Example.COM ", ("email", "ada.lovelace@example.com")),
        ("+49 151 1234 5678", ("phone", "+4915112345678")),
        ("+1 (555) 555-0142", ("phone", "+15555550142")),
    ],
)
def test_addresses_are_normalised_as_intake_stores_them(typed: str, found: tuple[str, str]) -> None:
    assert parse_address(typed) == found


@pytest.mark.parametrize(
    "typed",
    ["", "ada", "ada@", "@example.com", "0151 12345678", "+12", "'; DROP TABLE customers; --", "a@b.c" + "x" * 300],
)
def test_anything_else_is_refused(typed: str) -> None:
    with pytest.raises(AddressError):
        parse_address(typed)


def test_forget_refuses_what_is_not_an_address_with_status_2(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store.record_order(make_order("1001"), {})
    assert main(["customer", "forget", "ada"]) == 2
    out = capsys.readouterr().out
    assert "neither an email address nor a phone number" in out and "+4915112345678" in out
    assert store.get_order("acme", "1001").customer.email == "ada@example.com"  # type: ignore[union-attr]


def test_forgetting_someone_unknown_says_so_and_succeeds(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store.record_order(make_order("1001"), {})
    assert main(["customer", "forget", "grace@example.com", "--merchant", "acme"]) == 0
    assert "0 customers found with that email of merchant acme: nothing to erase." in capsys.readouterr().out
    assert store.get_order("acme", "1001").customer.email == "ada@example.com"  # type: ignore[union-attr]


def test_db_prune_reports_per_table_and_a_dry_run_changes_nothing(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store.record_order(make_order("1001"), {"raw": "old"})
    store.record_order(make_order("1002"), {"raw": "new"})
    with store.engine.begin() as conn:
        conn.execute(
            ORDERS.update().where(ORDERS.c.order_id == "1001").values(created_at=utcnow() - timedelta(days=401))
        )

    assert main(["db", "prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "AFTERCARE_RETENTION_DAYS=400" in out and "Dry run: nothing was changed." in out
    assert "orders.raw_payload" in out and store.get_raw_order("acme", "1001") == {"raw": "old"}

    assert main(["db", "prune"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "orders.raw_payload" in line]
    assert lines and lines[0].split()[-2] == "1"
    assert store.get_raw_order("acme", "1001") == {} and store.get_raw_order("acme", "1002") == {"raw": "new"}


def test_a_retention_shorter_than_a_month_is_refused(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_RETENTION_DAYS", "7")
    with pytest.raises(SystemExit, match="AFTERCARE_RETENTION_DAYS='7': must be a whole number from 30 up"):
        main(["db", "prune"])
