"""deploy/grafana/aftercare.json, the on-call dashboard, asks only for metrics something emits: the SDK's and our
counters as a real worker serves them after a journey, the API's as its registry holds them. A renamed counter
or an SDK upgrade that renames a metric fails here, not in an empty panel during an incident."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import temporalio.bridge
import yaml
from prometheus_client import REGISTRY
from temporalio.testing import WorkflowEnvironment

import api.app  # noqa: F401  # registers the API's counters (its routes)
from activities import metrics
from storage import Store
from tests.aftercare.observed_journey import observed_journey
from tests.aftercare.test_worker_metrics import samples
from workflows.messenger import MESSAGES_COUNTER

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "aftercare.json"
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def queries(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return exprs


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (ours and the SDK's all start aftercare_ or temporal_)."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(re.findall(r"\b(?:aftercare|temporal)_[a-z0-9_]+", unquoted))


def api_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}{s}" for s in SUFFIXES[:3]}
    return names


def sdk_knows(name: str) -> bool:
    """Named in the SDK's core library: for metrics a happy journey does not produce (failures, cache misses)."""
    base = name.removeprefix("temporal_")
    for suffix in SUFFIXES:
        base = base.removesuffix(suffix)
    library = next(Path(temporalio.bridge.__file__).parent.glob("temporal_sdk_bridge*"))
    return base.encode() in library.read_bytes()


def test_the_dashboard_is_grafana_json_with_the_panels_on_call_needs() -> None:
    board = dashboard()
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert all(p["datasource"]["uid"] == "${datasource}" and p.get("description") for p in panels)
    wanted = {
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_workflow_task_execution_failed_total",
        "temporal_activity_execution_failed_total",
        "temporal_sticky_cache_hit_total",
        "temporal_sticky_cache_miss_total",
        "temporal_worker_task_slots_used",
        "aftercare_messages_total",
        "aftercare_provider_errors_total",
        "aftercare_store_webhooks_total",
        "aftercare_carrier_webhooks_total",
        "aftercare_provider_webhooks_total",
    }
    asked = set().union(*map(metric_names, queries(board)))
    assert wanted <= asked, wanted - asked


def test_the_journeys_skips_and_send_messages_count_under_one_name() -> None:
    assert (metrics.MESSAGES, metrics.DESCRIPTIONS[metrics.MESSAGES]) == MESSAGES_COUNTER


async def test_every_metric_the_dashboard_asks_for_is_emitted(
    time_skipping_env: WorkflowEnvironment, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with observed_journey(time_skipping_env, store, tmp_path, monkeypatch, metrics=True) as run:
        assert run.metrics_url is not None
        async with httpx.AsyncClient(timeout=5) as http:
            scraped = set(samples((await http.get(run.metrics_url)).text))
    ours = {f"{name}_total" for name in metrics.NAMES}  # recorded only when something fails: not all in a scrape
    known = scraped | ours | api_names()
    asked = set().union(*map(metric_names, queries(dashboard())))
    unknown = sorted(n for n in asked - known if not (n.startswith("temporal_") and sdk_knows(n)))
    assert unknown == [], f"the dashboard asks for metrics nothing emits: {unknown}"
    # what a happy journey produces is checked against the scrape itself, not only the SDK's strings
    assert len(asked & scraped) >= 7, sorted(asked & scraped)


def test_the_observability_profile_scrapes_where_the_workers_serve_and_loads_this_dashboard() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    address = compose["worker"]["environment"]["AFTERCARE_WORKER_METRICS_ADDRESS"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    worker_sd = jobs["aftercare-worker"]["dns_sd_configs"][0]
    assert (worker_sd["names"], str(worker_sd["port"])) == (["worker"], address.rpartition(":")[2])
    assert jobs["aftercare-api"]["static_configs"][0]["targets"] == ["api:8000"]
    mounts = dict(m.rsplit(":", 2)[:2] for m in compose["grafana"]["volumes"] if m.startswith("./"))
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/aftercare.yml").read_text())
    dashboards_dir = provider["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/aftercare.json"] == f"{dashboards_dir}/aftercare.json"
