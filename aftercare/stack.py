"""`aftercare up`: the whole embedded stack in one terminal, stopped cleanly on Ctrl-C.

Temporal dev server (SQLite under `.aftercare/`, Web UI, our search attributes), the sandbox stand-ins,
the worker and the API, each a child process with its log in `.aftercare/logs/`. A port already in use
is named with the variable that moves it; a child that dies takes the stack down with its last lines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from aftercare.callback_keys import callback_env
from aftercare.codec import CodecKeyError, load_keys
from aftercare.home import secure_home
from aftercare.logs import install_redaction
from aftercare.settings import DEMO_SHOPIFY_SECRET_ENV, DEMO_STRIPE_KEY_ENV, REPO_ROOT, Settings
from aftercare.settings_sources import ENV_FILE_VARIABLE, env_file_in_use
from aftercare.supervisor import Supervisor
from aftercare.temporal_retention import apply_namespace_retention
from policies.loader import PolicyError, load_policy_dir
from storage import shown_url
from workflows.models import SEARCH_ATTRIBUTES

console = Console()


class StackError(RuntimeError):
    """Something stops the stack from starting; the message says what and how to fix it."""


def child_environment(given: dict[str, str]) -> dict[str, str]:
    """This process's environment with `given` on top. A secret given here by value drops its inherited NAME_FILE
    (the child would find both set), and the child reads the `.env` this process read, wherever it runs."""
    inherited = {k: v for k, v in os.environ.items() if not (k.endswith("_FILE") and k.removesuffix("_FILE") in given)}
    return inherited | {ENV_FILE_VARIABLE: env_file_in_use()} | given


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # logs hold order ids and what went wrong: the owner's only, whatever the umask
        log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_environment(self.env),
            cwd=REPO_ROOT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 20.0) -> None:  # longer than a worker's own grace (worker.SHUTDOWN_GRACE)
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def bin_path(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(settings: Settings) -> None:
    wanted = [
        ("Temporal gRPC", settings.temporal_host, settings.temporal_port, "AFTERCARE_TEMPORAL_PORT"),
        ("Temporal Web UI", settings.temporal_host, settings.temporal_ui_port, "AFTERCARE_TEMPORAL_UI_PORT"),
        ("API", settings.api_host, settings.api_port, "AFTERCARE_API_PORT"),
        ("sandbox HTTP", settings.sandbox_host, settings.sandbox_port, "AFTERCARE_SANDBOX_PORT"),
        ("SMTP sink", settings.smtp_host, settings.smtp_port, "AFTERCARE_SMTP_PORT"),
    ]
    busy = [w for w in wanted if port_in_use(w[1], w[2])]
    if busy:
        lines = [f"  {name}: {host}:{port} is in use; set {var} to a free port" for name, host, port, var in busy]
        raise StackError("cannot start: ports already in use (is another `aftercare up` running?)\n" + "\n".join(lines))


def check_embedded_temporal(settings: Settings) -> None:
    """`aftercare up` runs its own Temporal dev server (plain, on TEMPORAL_HOST:PORT) and its worker and API connect
    to it; settings for another Temporal would send them elsewhere, so they stop us with what to do instead."""
    own = f"{settings.temporal_host}:{settings.temporal_port}"
    elsewhere = [f"AFTERCARE_TEMPORAL_ADDRESS={settings.temporal_address}"] if settings.temporal_address != own else []
    if settings.temporal_uses_tls:
        elsewhere.append("TLS (AFTERCARE_TEMPORAL_TLS / _TLS_* / _API_KEY)")
    if elsewhere:
        raise StackError(
            f"cannot start: `aftercare up` runs its own Temporal dev server at {own}, without TLS, but these "
            f"settings ask for another Temporal: {'; '.join(elsewhere)}. Unset them for the embedded stack, or run "
            "the worker (`python -m worker`) and the API (`uvicorn api.main:app`) against your Temporal "
            "(docs/DEPLOYMENT.md)"
        )


def wait_until(what: str, ready: Callable[[], bool], child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise StackError(f"{child.name} exited while starting; last lines of {child.log_path}:\n{child.tail()}")
        if ready():
            return
        time.sleep(0.25)
    raise StackError(f"{what} not ready after {timeout:.0f}s; see {child.log_path}:\n{child.tail()}")


def _port_open(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((host, port)) == 0

    return check


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def secret_env(settings: Settings, *names: str) -> dict[str, str]:
    """Secrets for a child, by environment: a command line is readable by every local user (`ps`), a
    process's environment only by its owner (and root)."""
    secrets = {
        "AFTERCARE_EASYPOST_API_KEY": settings.easypost_api_key,
        "AFTERCARE_EASYPOST_WEBHOOK_SECRET": settings.easypost_webhook_secret,
        "AFTERCARE_AFTERSHIP_API_KEY": settings.aftership_api_key,
        "AFTERCARE_AFTERSHIP_WEBHOOK_SECRET": settings.aftership_webhook_secret,
    }
    return {name: secrets[name] for name in names}


def connector_env(settings: Settings) -> dict[str, str]:
    """Where the children's connectors point, from this process's settings (so a changed Settings reaches them)."""
    return {
        "AFTERCARE_EASYPOST_BASE_URL": settings.easypost_base_url,
        "AFTERCARE_AFTERSHIP_BASE_URL": settings.aftership_base_url,
        "AFTERCARE_SHIPPO_BASE_URL": settings.shippo_base_url,
        "AFTERCARE_17TRACK_BASE_URL": settings.seventeentrack_base_url,
        "AFTERCARE_TWILIO_BASE_URL": settings.twilio_base_url,
        "AFTERCARE_STRIPE_BASE_URL": settings.stripe_base_url,
        "AFTERCARE_SENDGRID_BASE_URL": settings.sendgrid_base_url,
        "AFTERCARE_POSTMARK_BASE_URL": settings.postmark_base_url,
        "AFTERCARE_WHATSAPP_BASE_URL": settings.whatsapp_base_url,
    }


def sandbox_stripe_keys(settings: Settings) -> dict[str, str]:
    """{variable: key} for every bundled merchant's Stripe key the worker needs. The demo's is its setting;
    on the sandbox's Stripe, a merchant whose variable is not set gets an account of its own (key
    `sk_test_<merchant>_sandbox`), so a refund works out of the box; against a real Stripe, only what is set."""
    keys = {DEMO_STRIPE_KEY_ENV: settings.demo_stripe_secret_key}
    on_sandbox = settings.stripe_base_url.startswith(settings.sandbox_url)
    try:
        policies = load_policy_dir(settings.policy_dir)
    except (PolicyError, OSError):  # `up` reports broken policies itself; the demo's key still goes through
        return keys
    for merchant_id, loaded in sorted(policies.items()):
        payments = loaded.policy.payments
        variable = payments.credentials_env.get("secret_key") if payments is not None else None
        if variable is None or variable in keys:
            continue
        if value := os.environ.get(variable):
            keys[variable] = value
        elif on_sandbox:
            keys[variable] = f"sk_test_{merchant_id}_sandbox"
    return keys


def dev_server_argv(
    host: str,
    port: int,
    db_file: Path,
    *,
    namespace: str = "default",
    ui_port: int | None = None,
    codec_endpoint: str | None = None,
    log_level: str = "warn",
) -> list[str]:
    """The Temporal CLI dev server on `host:port`, its state in `db_file` (so a restart keeps every journey), our
    search attributes registered; the Web UI on `ui_port`, or none (headless) when None."""
    search_attributes = [
        arg for name, kind in SEARCH_ATTRIBUTES.items() for arg in ("--search-attribute", f"{name}={kind}")
    ]
    ui = ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    codec = ["--ui-codec-endpoint", codec_endpoint] if codec_endpoint is not None else []
    # fmt: off
    return [
        bin_path("temporal"), "server", "start-dev",
        "--ip", host,
        "--port", str(port),
        *ui,
        "--db-filename", str(db_file),
        *codec,
        "--namespace", namespace,
        "--log-level", log_level,
        *search_attributes,
    ]
    # fmt: on


def metrics_env(settings: Settings, index: int) -> dict[str, str]:
    """The `index`th worker's metrics endpoint: the next port after the one before (9464, 9465...), so N workers
    on this machine do not fight over AFTERCARE_WORKER_METRICS_ADDRESS; nothing when it is unset."""
    if not settings.worker_metrics_address:
        return {}
    host, _, port = settings.worker_metrics_address.rpartition(":")
    return {"AFTERCARE_WORKER_METRICS_ADDRESS": f"{host}:{int(port) + index}"}


def plan_children(settings: Settings, workers: int = 1) -> list[Child]:
    """Temporal, the sandbox, `workers` workers (`worker`, or `worker-1`... with a log each) and the API."""
    logs = settings.home / "logs"
    py = sys.executable
    # secrets travel in the environment, never on a command line that `ps` shows
    easypost = secret_env(
        settings,
        "AFTERCARE_EASYPOST_API_KEY",
        "AFTERCARE_EASYPOST_WEBHOOK_SECRET",
        "AFTERCARE_AFTERSHIP_API_KEY",
        "AFTERCARE_AFTERSHIP_WEBHOOK_SECRET",
    )
    # the demo shop's Shopify webhooks: the sandbox's shop signs with it, the API checks with it
    shopify = {DEMO_SHOPIFY_SECRET_ENV: settings.demo_shopify_webhook_secret}
    # The worker reads each merchant's Stripe key from the variable its policy names; the sandbox opens one
    # account per key it accepts (those, and any in AFTERCARE_SANDBOX_STRIPE_KEYS).
    merchant_keys = sandbox_stripe_keys(settings)
    listed = [k.strip() for k in os.environ.get("AFTERCARE_SANDBOX_STRIPE_KEYS", "").split(",") if k.strip()]
    sandbox_keys = {"AFTERCARE_SANDBOX_STRIPE_KEYS": ",".join(dict.fromkeys([*merchant_keys.values(), *listed]))}
    # the sandbox signs messaging delivery callbacks as the API checks them
    sandbox_callbacks, api_callbacks = callback_env(settings)
    worker_env = connector_env(settings) | easypost | merchant_keys
    # fmt: off
    return [
        Child(
            "temporal",
            dev_server_argv(
                settings.temporal_host,
                settings.temporal_port,
                settings.home / "temporal.db",
                namespace=settings.namespace,
                ui_port=settings.temporal_ui_port,
                codec_endpoint=f"{settings.api_url}/codec",  # the Web UI shows decrypted payloads
            ),
            logs / "temporal.log",
        ),
        Child(
            "sandbox",
            [
                py, "-m", "sandbox",
                "--host", settings.sandbox_host,
                "--http-port", str(settings.sandbox_port),
                "--smtp-port", str(settings.smtp_port),
                "--webhook-url", f"{settings.api_url}/v1/carriers/easypost/events",
            ],
            logs / "sandbox.log",
            # signs webhooks as the API checks them, opens a Stripe account per key, keeps its state (outbox,
            # trackers, Stripe's payments) under AFTERCARE_HOME/sandbox across restarts
            env=easypost | shopify | sandbox_keys | sandbox_callbacks | {"AFTERCARE_HOME": str(settings.home)},
        ),
        *(
            Child(name, [py, "-m", "worker"], logs / f"{name}.log", env=worker_env | metrics_env(settings, n))
            for n, name in enumerate(["worker"] if workers == 1 else [f"worker-{n}" for n in range(1, workers + 1)])
        ),
        Child(
            "api",
            [py, "-m", "uvicorn", "api.main:app", "--host", settings.api_host, "--port", str(settings.api_port)],
            logs / "api.log",
            env=connector_env(settings) | easypost | shopify | api_callbacks,  # checks the webhooks' signatures
        ),
    ]
    # fmt: on


def local_admin_token_file(settings: Settings) -> Path:
    """Make sure this machine's admin token exists (the console and CLI need one) and say where it is."""
    from aftercare.local_token import ensure_local_token, token_path
    from aftercare.runtime import open_store

    store = open_store(settings)
    try:
        ensure_local_token(settings, store)
    finally:
        store.close()
    return token_path(settings)


def print_urls(settings: Settings, children: list[Child], token_file: Path) -> None:
    table = Table(title="Aftercare is up", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("where", overflow="fold")  # a path cut short is of no use
    table.add_row("Support console", f"{settings.api_url}/console")
    table.add_row("Admin token (console login, CLI)", str(token_file))
    table.add_row("API docs", f"{settings.api_url}/docs")
    table.add_row("Temporal Web UI", settings.temporal_ui_url)
    table.add_row("Sandbox outbox (emails, SMS, refunds)", f"{settings.sandbox_url}/outbox")
    table.add_row("Payments API (Stripe; its API under /v1)", settings.stripe_base_url)
    table.add_row("Demo Shopify shop (its controls)", f"{settings.sandbox_url}/docs#/sandbox%3A%20shopify")
    table.add_row("Temporal gRPC", settings.temporal_address)
    table.add_row("SMTP sink", f"{settings.smtp_host}:{settings.smtp_port}")
    table.add_row("Database", shown_url(settings.database_url))
    table.add_row("Logs", str(children[0].log_path.parent))
    console.print(table)
    console.print(codec_steps(settings), highlight=False, soft_wrap=True)


def codec_steps(settings: Settings) -> str:
    """How to see decrypted payloads in the Web UI. The dev server can name the codec endpoint
    (`--ui-codec-endpoint`) but has no flag to make the UI send credentials, and /codec needs them."""
    return (
        "To see decrypted payloads in the Temporal Web UI:\n"
        f"  1. sign in to the console ({settings.api_url}/console) with an engineer, support or admin token;\n"
        f"  2. open the Web UI at {settings.temporal_ui_url} in the same browser (the same host as the API);\n"
        '  3. Workflows -> "Configure Codec Server" -> "Use my browser setting and ignore Cluster-level setting.",\n'
        f'     endpoint {settings.api_url}/codec, switch on "Include cross-origin credentials", save.'
    )


def supervise(children: list[Child], events: Path, poll: float = 0.5) -> None:
    """Start again whatever dies, with back-off (aftercare.supervisor), saying so on the terminal with the last
    lines of its log, and in `events` (logs/stack.log) with the time."""
    by_name = {c.name: c for c in children}

    def report(event: str) -> None:
        name = event.split(" ", 1)[0]
        child = by_name.get(name)
        if child is not None and "stopped" in event:
            console.print(f"[red]{event}; last lines of {child.log_path}:[/red]\n{child.tail()}", highlight=False)
        else:
            console.print(f"[yellow]{event}[/yellow]", highlight=False)
        with open(events, "a", encoding="utf-8") as out:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {event}\n")

    supervisor = Supervisor(children, on_event=report)
    while True:
        time.sleep(poll)
        supervisor.check()


def up(settings: Settings, *, demo: bool = False, demo_orders: int = 5, workers: int = 1) -> int:
    """Start everything, print where it is, keep it running (a child that dies is started again) until Ctrl-C,
    then stop everything in order."""
    secure_home(settings.home)  # before anything writes there; the children inherit the umask
    install_redaction()  # what this process prints of its children's logs is redacted like the logs
    from aftercare.runtime import upgrade_database
    from storage import SchemaError

    try:
        check_embedded_temporal(settings)
        check_ports(settings)
        load_keys(settings.home, settings.codec_keys)  # a bad key file stops us here, not in a child's log
        # The embedded stack upgrades its database on start; its worker and API, like any, refuse one behind.
        upgrade_database(settings)
    except (StackError, CodecKeyError, SchemaError) as err:
        console.print(f"[red]{err}[/red]")
        return 2
    children = plan_children(settings, workers)
    temporal, sandbox, *worker_children, api = children
    started: list[Child] = []
    interrupted = False

    def _interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT comes ignored
    try:
        with console.status("starting Temporal dev server…"):
            temporal.start()
            started.append(temporal)
            wait_until("Temporal", _port_open(settings.temporal_host, settings.temporal_port), temporal)
            retention_problem = apply_namespace_retention(settings, bin_path("temporal"))
        if retention_problem:  # closed journeys' histories are then kept for the dev server's default
            console.print(f"[yellow]could not set the namespace's retention: {retention_problem}[/yellow]")
        with console.status("starting sandbox, worker and API…"):
            for child in (sandbox, *worker_children, api):
                child.start()
                started.append(child)
            wait_until("sandbox", _http_ok(f"{settings.sandbox_url}/healthz"), sandbox)
            wait_until("API", _http_ok(f"{settings.api_url}/healthz"), api)
        print_urls(settings, children, local_admin_token_file(settings))
        if demo:
            from aftercare.demo import run_demo

            run_demo(settings, orders=demo_orders)
        console.print("Press [bold]Ctrl-C[/bold] to stop.")
        supervise(started, settings.home / "logs" / "stack.log")
        return 0  # not reached: only Ctrl-C (or SIGTERM) ends the stack
    except KeyboardInterrupt:
        interrupted = True
        return 0
    except StackError as err:
        console.print(f"[red]{err}[/red]")
        return 1
    finally:
        if interrupted:
            console.print("stopping…")
        for child in reversed(started):
            child.stop()
        if interrupted:
            console.print("stopped. State is kept in " + str(settings.home))
