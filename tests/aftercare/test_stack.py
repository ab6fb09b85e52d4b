"""`aftercare up`: refuses a busy port naming the variable to change, keeps the local admin token, and wires
the children (the worker gets the Stripe URL and key, the sandbox accepts that key) without putting secrets on
a command line."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from temporalio import activity

from aftercare import stack
from aftercare.runtime import production_activities, upgrade_database
from aftercare.settings import DEMO_SHOPIFY_SECRET_ENV, DEMO_STRIPE_KEY_ENV, Settings
from aftercare.stack import Child, StackError, check_ports, local_admin_token_file, plan_children, print_urls, up
from domain import Role
from policies.loader import BUNDLED_DIR, load_policy_dir
from storage import current_revision, head_revision, make_engine
from storage.repository import Store
from workflows.messenger import SEND_MESSAGE
from workflows.models import SEARCH_ATTRIBUTES
from workflows.provider_calls import (
    CREATE_RETURN_LABEL,
    FIND_REFUND,
    ISSUE_REFUND,
    LOOK_UP_PAYMENT,
    RECORD_ACTION,
)
from workflows.retention import PRUNE_EXPIRED
from workflows.shipment_tracking import POLL_CARRIER


def test_a_busy_port_is_named_with_the_variable_that_moves_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = Settings().model_copy(update=dict(api_port=port))
        with pytest.raises(StackError) as info:
            check_ports(settings)
    message = str(info.value)
    assert f"API: 127.0.0.1:{port} is in use; set AFTERCARE_API_PORT to a free port" in message


def test_the_dev_server_keeps_state_in_a_file_and_registers_our_search_attributes(tmp_path: Path) -> None:
    settings = Settings().model_copy(update=dict(home=tmp_path))
    temporal = plan_children(settings)[0]
    argv = temporal.argv
    assert argv[argv.index("--db-filename") + 1] == str(tmp_path / "temporal.db")
    registered = {argv[i + 1] for i, a in enumerate(argv) if a == "--search-attribute"}
    assert registered == {f"{name}={kind}" for name, kind in SEARCH_ATTRIBUTES.items()}
    assert argv[argv.index("--ui-codec-endpoint") + 1] == f"{settings.api_url}/codec"


def test_stripe_defaults_to_the_sandbox_and_the_demo_key_stays_out_of_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERCARE_STRIPE_BASE_URL", raising=False)
    monkeypatch.delenv(DEMO_STRIPE_KEY_ENV, raising=False)
    monkeypatch.setenv("AFTERCARE_SANDBOX_PORT", "18025")
    default = Settings()
    assert default.stripe_base_url == "http://127.0.0.1:18025/stripe"
    assert default.demo_stripe_secret_key == "sk_test_demo_merchant"

    monkeypatch.setenv("AFTERCARE_STRIPE_BASE_URL", "https://api.stripe.com")
    monkeypatch.setenv(DEMO_STRIPE_KEY_ENV, "sk_test_secret123")
    live = Settings()
    assert (live.stripe_base_url, live.demo_stripe_secret_key) == ("https://api.stripe.com", "sk_test_secret123")
    assert "sk_test_secret123" not in repr(live)


def test_the_worker_gets_the_demo_merchants_key_and_the_sandbox_opens_its_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variable demo.yaml names reaches the worker; the sandbox accepts that key (and any listed for
    other merchants), keeps its Stripe under AFTERCARE_HOME, and no key is on any command line."""
    monkeypatch.setenv("AFTERCARE_SANDBOX_STRIPE_KEYS", "sk_test_other_shop")
    settings = Settings().model_copy(
        update=dict(home=tmp_path, stripe_base_url="http://127.0.0.1:9999/stripe", demo_stripe_secret_key="sk_test_p")
    )
    children = {child.name: child for child in plan_children(settings)}

    worker, api, sandbox = children["worker"], children["api"], children["sandbox"]
    assert worker.env["AFTERCARE_STRIPE_BASE_URL"] == "http://127.0.0.1:9999/stripe"
    assert worker.env[DEMO_STRIPE_KEY_ENV] == "sk_test_p"
    assert sandbox.env["AFTERCARE_SANDBOX_STRIPE_KEYS"] == "sk_test_p,sk_test_other_shop"
    assert sandbox.env["AFTERCARE_HOME"] == str(tmp_path)  # its state (Stripe's payments too) under home/sandbox
    assert api.env["AFTERCARE_EASYPOST_BASE_URL"] == settings.easypost_base_url
    assert DEMO_STRIPE_KEY_ENV not in api.env  # only the worker refunds
    assert all("sk_test_p" not in arg for child in children.values() for arg in child.argv)


def test_no_secret_is_on_a_childs_command_line(tmp_path: Path) -> None:
    settings = Settings().model_copy(
        update=dict(
            home=tmp_path,
            easypost_api_key="ep-key-planned",
            easypost_webhook_secret="whsec-planned",
            demo_stripe_secret_key="sk_test_planned",
        )
    )
    children = {child.name: child for child in plan_children(settings)}
    secrets = ("ep-key-planned", "whsec-planned", "sk_test_planned")
    for child in children.values():
        assert not [arg for arg in child.argv for secret in secrets if secret in arg], child.name
        assert not any("secret" in arg or "key" in arg for arg in child.argv if arg.startswith("--")), child.argv
    sandbox, api, worker = children["sandbox"], children["api"], children["worker"]
    # ...they travel in the environment, to the children that need them
    assert sandbox.env["AFTERCARE_EASYPOST_WEBHOOK_SECRET"] == "whsec-planned"  # signs the webhooks
    assert api.env["AFTERCARE_EASYPOST_WEBHOOK_SECRET"] == "whsec-planned"  # checks them
    assert worker.env["AFTERCARE_EASYPOST_API_KEY"] == sandbox.env["AFTERCARE_EASYPOST_API_KEY"] == "ep-key-planned"


def test_up_makes_the_home_private_and_what_it_creates_there_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    for name in ("aftercare.db", "admin.token", "codec.keys", "logs/worker.log"):
        (home / name).write_text("x")
        (home / name).chmod(0o644)  # as older versions left them
    home.chmod(0o755)
    (home / "logs").chmod(0o755)
    with socket.socket() as busy:  # up() stops at the busy port: after securing the home, before any child
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        old_umask = os.umask(0o022)
        try:
            assert up(Settings().model_copy(update=dict(home=home, api_port=busy.getsockname()[1]))) == 2
            (home / "new.db").write_text("created afterwards")
            (home / "new-dir").mkdir()
            log = Child("x", ["true"], home / "logs" / "new.log")
            log.start()
            assert log.process is not None and log.process.wait() == 0
        finally:
            os.umask(old_umask)
    modes = {str(p.relative_to(home)): stat.S_IMODE(p.stat().st_mode) for p in [home, *home.rglob("*")]}
    assert modes == {
        ".": 0o700,
        "logs": 0o700,
        "aftercare.db": 0o600,
        "admin.token": 0o600,
        "codec.keys": 0o600,
        "logs/worker.log": 0o600,
        "logs/new.log": 0o600,
        "new.db": 0o600,
        "new-dir": 0o700,
    }


async def test_the_worker_runs_every_activity_the_workflows_call(tmp_path: Path) -> None:
    settings = Settings().model_copy(update=dict(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'aftercare.db'}"))
    upgrade_database(settings)  # as `aftercare up` does before it starts the worker
    activities, close = production_activities(settings)
    try:
        names = {activity._Definition.must_from_callable(fn).name for fn in activities}
    finally:
        await close()
    called = {
        SEND_MESSAGE,
        POLL_CARRIER,
        LOOK_UP_PAYMENT,
        ISSUE_REFUND,
        FIND_REFUND,
        CREATE_RETURN_LABEL,
        RECORD_ACTION,
        PRUNE_EXPIRED,  # the daily RetentionPrune's
    }
    assert names == called
    assert names >= {"look_up_payment", "issue_refund", "find_refund"}


def test_the_local_admin_token_is_made_once_readable_by_its_owner_only_and_remade_after_a_reset(
    tmp_path: Path,
) -> None:
    settings = Settings().model_copy(update=dict(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'aftercare.db'}"))
    upgrade_database(settings)  # `aftercare up` does, first
    path = local_admin_token_file(settings)
    token = path.read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert local_admin_token_file(settings).read_text().strip() == token  # a restart keeps it
    store = Store.open(settings.database_url)
    try:
        who = store.authenticate(token)
        assert who is not None and who.role is Role.ADMIN
        store.revoke_api_token("local-admin")  # as if the database had been reset
    finally:
        store.close()
    fresh = local_admin_token_file(settings).read_text().strip()
    assert fresh != token


def test_up_tells_how_to_make_the_web_ui_decode_payloads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The dev server cannot make the Web UI send credentials to /codec: `aftercare up` prints the exact steps."""
    settings = Settings().model_copy(update=dict(home=tmp_path, api_port=18000, temporal_ui_port=18233))
    print_urls(settings, plan_children(settings), tmp_path / "admin.token")
    out = capsys.readouterr().out
    assert "http://127.0.0.1:18000/console" in out and "open the Web UI at http://127.0.0.1:18233" in out
    assert '"Configure Codec Server"' in out and "endpoint http://127.0.0.1:18000/codec" in out
    assert '"Include cross-origin credentials"' in out


def test_every_bundled_merchant_gets_its_own_sandbox_stripe_account_unless_its_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refund for the README's acme works out of the box on the sandbox; a key set by hand wins; against a
    real Stripe nothing is made up."""
    monkeypatch.delenv("ACME_STRIPE_SECRET_KEY", raising=False)
    monkeypatch.delenv("AFTERCARE_SANDBOX_STRIPE_KEYS", raising=False)
    children = {child.name: child for child in plan_children(Settings().model_copy(update=dict(home=tmp_path)))}
    worker, sandbox = children["worker"], children["sandbox"]
    assert worker.env["ACME_STRIPE_SECRET_KEY"] == "sk_test_acme_sandbox"
    accounts = sandbox.env["AFTERCARE_SANDBOX_STRIPE_KEYS"].split(",")
    assert "sk_test_acme_sandbox" in accounts and worker.env[DEMO_STRIPE_KEY_ENV] in accounts
    assert len(set(accounts)) == len(accounts) == len(load_policy_dir(BUNDLED_DIR))  # one account each

    monkeypatch.setenv("ACME_STRIPE_SECRET_KEY", "sk_test_acme_own")
    worker = {c.name: c for c in plan_children(Settings().model_copy(update=dict(home=tmp_path)))}["worker"]
    assert worker.env["ACME_STRIPE_SECRET_KEY"] == "sk_test_acme_own"

    monkeypatch.delenv("ACME_STRIPE_SECRET_KEY")
    real = Settings().model_copy(update=dict(home=tmp_path, stripe_base_url="https://payments.invalid"))
    assert "ACME_STRIPE_SECRET_KEY" not in {c.name: c for c in plan_children(real)}["worker"].env


def test_the_demo_shops_secret_reaches_the_api_and_the_sandboxs_shop_not_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API checks the demo shop's Shopify webhooks with the secret the sandbox's shop signs them with."""
    monkeypatch.setenv(DEMO_SHOPIFY_SECRET_ENV, "shpss_demo_p")
    children = {c.name: c for c in plan_children(Settings().model_copy(update=dict(home=tmp_path)))}
    assert children["api"].env[DEMO_SHOPIFY_SECRET_ENV] == "shpss_demo_p"
    assert children["sandbox"].env[DEMO_SHOPIFY_SECRET_ENV] == "shpss_demo_p"
    assert DEMO_SHOPIFY_SECRET_ENV not in children["worker"].env
    assert all("shpss_demo_p" not in " ".join(c.argv) for c in children.values())
    demo = load_policy_dir(BUNDLED_DIR)["demo"].policy.store
    assert demo is not None and demo.webhook_secret_env == DEMO_SHOPIFY_SECRET_ENV


class _Started(Exception):
    """Raised in place of starting the children: everything before it has happened."""


def test_up_upgrades_the_database_before_it_starts_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings().model_copy(
        update=dict(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'aftercare.db'}")
    )
    monkeypatch.setattr(stack, "check_ports", lambda _settings: None)  # other stacks may hold the default ports

    def children(_settings: Settings, _workers: int = 1) -> list[Child]:
        engine = make_engine(settings.database_url)
        try:
            assert current_revision(engine) == head_revision()  # upgraded before any child starts
        finally:
            engine.dispose()
        raise _Started

    monkeypatch.setattr(stack, "plan_children", children)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        with pytest.raises(_Started):
            up(settings)
    finally:
        os.umask(umask)  # `up` makes its own private (secure_home): not this test process's business

    # a database ahead of this code stops `up` with the reason, before anything starts
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d'")
    engine.dispose()
    try:
        assert up(settings) == 2
    finally:
        os.umask(umask)
    assert "revision f00d, which this code does not know" in capsys.readouterr().out


def test_each_of_n_workers_serves_its_metrics_on_its_own_port(tmp_path: Path) -> None:
    """One AFTERCARE_WORKER_METRICS_ADDRESS for `aftercare up --workers 3`: 9464, 9465, 9466, no two on one port."""
    settings = Settings(home=tmp_path, worker_metrics_address="127.0.0.1:9464")
    children = {child.name: child for child in plan_children(settings, workers=3)}
    addresses = [children[f"worker-{n}"].env["AFTERCARE_WORKER_METRICS_ADDRESS"] for n in (1, 2, 3)]
    assert addresses == ["127.0.0.1:9464", "127.0.0.1:9465", "127.0.0.1:9466"]
    assert "AFTERCARE_WORKER_METRICS_ADDRESS" not in children["api"].env
    unset = {child.name: child for child in plan_children(settings.model_copy(update={"worker_metrics_address": ""}))}
    assert "AFTERCARE_WORKER_METRICS_ADDRESS" not in unset["worker"].env
