"""deploy/temporal/setup.sh (compose's `temporal-setup`) against a real Temporal server and the real `temporal` CLI:
it waits for the namespace, registers every search attribute the journeys publish, and a second run changes
nothing. The dev server stands in for auto-setup's server: both speak the same operator API.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aftercare.settings import MAX_NAMESPACE_RETENTION_DAYS, REPO_ROOT
from tests.conftest import venv_binary
from workflows.models import SEARCH_ATTRIBUTES

SCRIPT = REPO_ROOT / "deploy" / "temporal" / "setup.sh"
NAMESPACE = "compose-setup-test"

pytestmark = pytest.mark.devserver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def temporal_address() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [venv_binary("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--namespace", NAMESPACE, "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_setup(address: str, **extra: str) -> subprocess.CompletedProcess[str]:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    env = {
        "PATH": f"{Path(venv_binary('temporal')).parent}{os.pathsep}{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": address,
        "NAMESPACE": NAMESPACE,
        "SEARCH_ATTRIBUTES": compose["services"]["temporal-setup"]["environment"]["SEARCH_ATTRIBUTES"],
    } | extra
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=150)


def retention_days(address: str) -> float:
    described = subprocess.run(
        [venv_binary("temporal"), "operator", "namespace", "describe", "--namespace", NAMESPACE,
         "--address", address, "--output", "json"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    ttl = json.loads(described)["config"]["workflowExecutionRetentionTtl"]  # e.g. "7776000s"
    return float(ttl.rstrip("s")) / 86400


def test_setup_registers_the_journeys_search_attributes_once(temporal_address: str) -> None:
    first = run_setup(temporal_address)  # the server is still starting: the script waits for the namespace
    assert first.returncode == 0, first.stderr
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"search attribute {name} ({kind}): registered" in first.stdout

    listed = subprocess.run(
        [venv_binary("temporal"), "operator", "search-attribute", "list", "--namespace", NAMESPACE,
         "--address", temporal_address, "--output", "json"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    for name in SEARCH_ATTRIBUTES:
        assert name in listed

    again = run_setup(temporal_address)  # compose may run it on every `up`
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already registered") == len(SEARCH_ATTRIBUTES)


def test_setup_sets_the_namespace_retention_from_aftercare_retention_days(temporal_address: str) -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["temporal-setup"]["environment"]["RETENTION_DAYS"] == "${AFTERCARE_RETENTION_DAYS:-400}"

    capped = run_setup(temporal_address, RETENTION_DAYS="400")
    assert capped.returncode == 0, capped.stderr
    assert f"namespace {NAMESPACE}: closed workflows kept 90 days" in capped.stdout
    assert retention_days(temporal_address) == MAX_NAMESPACE_RETENTION_DAYS

    shorter = run_setup(temporal_address, RETENTION_DAYS="45")
    assert shorter.returncode == 0 and retention_days(temporal_address) == 45

    bad = run_setup(temporal_address, RETENTION_DAYS="45d")
    assert bad.returncode == 1 and "AFTERCARE_RETENTION_DAYS=45d must be a whole number of days" in bad.stderr
