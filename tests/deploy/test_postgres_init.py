"""deploy/postgres/init-databases.sh against a real, private PostgreSQL: the roles and databases compose relies on
exist, and the passwords from .env are the ones that open them.

A throwaway cluster (initdb in a temporary directory, listening on a Unix socket only), so the shared test server
is never touched. Skipped where PostgreSQL's server programs are not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aftercare.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "postgres" / "init-databases.sh"
SUPERUSER_PASSWORD = "super-3f9a"
PASSWORDS = {"POSTGRES_AFTERCARE_PASSWORD": "aftercare-7c1e", "POSTGRES_TEMPORAL_PASSWORD": "temporal-52bd"}


def _server_bin(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None
    )


def _as_server_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` account then."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
        pytest.skip("running as root without a `postgres` account to start a private PostgreSQL as")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def private_postgres() -> Iterator[Path]:
    """A fresh cluster that asks every local connection for a password (as the compose network does)."""
    initdb, pg_ctl = _server_bin("initdb"), _server_bin("pg_ctl")
    if initdb is None or pg_ctl is None or shutil.which("psql") is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl/psql are not installed")
    prefix = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="aftercare-pginit-"))
    data, socket_dir = base / "data", base / "socket"
    socket_dir.mkdir()
    (base / "pw").write_text(SUPERUSER_PASSWORD)
    if prefix:
        shutil.chown(base, "postgres")
        for path in (socket_dir, base / "pw"):
            shutil.chown(path, "postgres")
    quiet = {"capture_output": True, "check": True, "timeout": 60}
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--pwfile", str(base / "pw"), "--auth=scram-sha-256"],
        **quiet,
    )
    options = f"-c listen_addresses='' -k {socket_dir}"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"], **quiet)
    try:
        yield socket_dir
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def psql(socket_dir: Path, user: str, password: str, database: str, sql: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PGHOST": str(socket_dir), "PGPASSWORD": password}
    return subprocess.run(
        ["psql", "-X", "-At", "-U", user, "-d", database, "-c", sql], env=env, capture_output=True, text=True
    )


def test_init_script_makes_the_roles_and_databases_compose_connects_with(private_postgres: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": str(private_postgres),
        "PGPASSWORD": SUPERUSER_PASSWORD,  # the image's entrypoint runs it as the superuser it just made
        "POSTGRES_USER": "postgres",
        **PASSWORDS,
    }
    run = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for secret in PASSWORDS.values():
        assert secret not in run.stdout + run.stderr

    owners = psql(
        private_postgres,
        "postgres",
        SUPERUSER_PASSWORD,
        "postgres",
        "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database WHERE datname NOT LIKE 'template%' "
        "AND datname <> 'postgres' ORDER BY 1",
    )
    assert owners.stdout.split() == ["aftercare=aftercare", "temporal=temporal", "temporal_visibility=temporal"]

    # the URL compose builds (aftercare:${POSTGRES_AFTERCARE_PASSWORD}@postgres/aftercare) opens its database, and
    # the owner may make its tables there (what the API does on first start; auto-setup likewise for Temporal)
    aftercare = PASSWORDS["POSTGRES_AFTERCARE_PASSWORD"]
    made = psql(private_postgres, "aftercare", aftercare, "aftercare", "CREATE TABLE t (id int)")
    assert made.returncode == 0 and made.stdout.strip() == "CREATE TABLE", made.stderr
    temporal = PASSWORDS["POSTGRES_TEMPORAL_PASSWORD"]
    for database in ("temporal", "temporal_visibility"):
        opened = psql(private_postgres, "temporal", temporal, database, "CREATE TABLE t (id int)")
        assert opened.returncode == 0, opened.stderr

    wrong = psql(private_postgres, "aftercare", "not-the-password", "aftercare", "SELECT 1")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    crossed = psql(private_postgres, "aftercare", aftercare, "temporal", "CREATE TABLE t (id int)")
    assert crossed.returncode != 0, "Aftercare's role must not write into Temporal's database"


def test_init_script_stops_naming_the_missing_password(private_postgres: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PGHOST": str(private_postgres), "POSTGRES_USER": "postgres"}
    env["POSTGRES_TEMPORAL_PASSWORD"] = PASSWORDS["POSTGRES_TEMPORAL_PASSWORD"]
    run = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "POSTGRES_AFTERCARE_PASSWORD" in run.stderr and ".env" in run.stderr
