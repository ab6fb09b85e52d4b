"""deploy/kubernetes/aftercare.yaml starts what docker-compose.yml starts, with the same image and commands, reads
only variables the code reads, and gives the parts what they need (probes on routes that exist, a grace period the
worker's shutdown fits in, secrets as files where the settings look for them)."""

from __future__ import annotations

from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml

from aftercare.settings import REPO_ROOT, variable_names
from api.app import create_app
from worker import SHUTDOWN_GRACE

MANIFEST = REPO_ROOT / "deploy" / "kubernetes" / "aftercare.yaml"
UVICORN_READS = {"FORWARDED_ALLOW_IPS"}


@pytest.fixture(scope="module")
def documents() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


@pytest.fixture(scope="module")
def compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


def pod(documents: dict[tuple[str, str], dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = documents[(kind, name)]["spec"]["template"]["spec"]
    return spec


def container(documents: dict[tuple[str, str], dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [only] = pod(documents, kind, name)["containers"]
    return dict(only)


WORKLOADS = [("Job", "aftercare-migrate", "migrate"), ("Deployment", "aftercare-api", "api")]
WORKLOADS += [("Deployment", "aftercare-worker", "worker")]


@pytest.mark.parametrize(("kind", "name", "service"), WORKLOADS)
def test_each_part_runs_the_compose_image_and_command(
    documents: dict[tuple[str, str], dict[str, Any]],
    compose_services: dict[str, dict[str, Any]],
    kind: str,
    name: str,
    service: str,
) -> None:
    spec = container(documents, kind, name)
    assert spec["image"] == compose_services[service]["image"]
    assert spec["command"] == compose_services[service]["command"]
    assert pod(documents, kind, name)["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user


def test_every_variable_is_one_the_code_reads(documents: dict[tuple[str, str], dict[str, Any]]) -> None:
    config = documents[("ConfigMap", "aftercare-config")]["data"]
    named = set(config)
    for kind, name, _ in WORKLOADS:
        named |= {item["name"] for item in container(documents, kind, name).get("env", [])}
    assert named - set(variable_names()) - UVICORN_READS == set()


def test_secrets_are_files_where_the_settings_look_for_them(documents: dict[tuple[str, str], dict[str, Any]]) -> None:
    config = documents[("ConfigMap", "aftercare-config")]["data"]
    secret_files = {name: path for name, path in config.items() if name.endswith("_FILE")}
    assert {"AFTERCARE_CODEC_KEYS_FILE", "AFTERCARE_DATABASE_URL_FILE"} <= set(secret_files)
    assert not {name.removesuffix("_FILE") for name in secret_files} & set(config)  # never both forms
    for kind, name, _ in WORKLOADS:
        mounts = {m["mountPath"] for m in container(documents, kind, name)["volumeMounts"]}
        for path in secret_files.values():
            assert str(PurePosixPath(path).parent) in mounts, f"{name} does not mount {path}"


async def test_the_api_is_ready_only_when_healthz_is_and_is_not_restarted_for_temporal(
    documents: dict[tuple[str, str], dict[str, Any]],
) -> None:
    api = container(documents, "Deployment", "aftercare-api")
    app = create_app(SimpleNamespace(store=None, policies={}, carriers={}, temporal=None))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        probe = await client.get(api["readinessProbe"]["httpGet"]["path"])
    assert probe.status_code == 503 and probe.json()["temporal"].startswith("down")  # nothing reachable: not ready
    assert "httpGet" not in api["livenessProbe"]  # /healthz fails while Temporal is down: not a reason to restart
    assert documents[("Deployment", "aftercare-api")]["spec"]["replicas"] >= 2


def test_a_worker_stopped_by_a_rollout_has_time_to_hand_its_activities_back(
    documents: dict[tuple[str, str], dict[str, Any]],
) -> None:
    grace = pod(documents, "Deployment", "aftercare-worker")["terminationGracePeriodSeconds"]
    assert grace > SHUTDOWN_GRACE.total_seconds() + 5


def test_workers_serve_their_metrics_where_prometheus_is_told_to_look(
    documents: dict[tuple[str, str], dict[str, Any]],
) -> None:
    worker = container(documents, "Deployment", "aftercare-worker")
    address = {e["name"]: e["value"] for e in worker["env"]}["AFTERCARE_WORKER_METRICS_ADDRESS"]
    annotations = documents[("Deployment", "aftercare-worker")]["spec"]["template"]["metadata"]["annotations"]
    assert address.rpartition(":")[2] == annotations["prometheus.io/port"] == str(worker["ports"][0]["containerPort"])
