"""docker-compose.yml, .env.example and the Dockerfile: valid, and in step with the code that reads them.

Nothing here can pull images or run docker, so these checks stand in for `docker compose config` and a first
start: the file follows the Compose Specification (the JSON schema check-jsonschema vendors), and what it says
(services, commands, ports, variables, databases, search attributes) agrees with what the code reads.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aftercare.settings import REPO_ROOT, Settings, variable_names
from aftercare.stack import plan_children
from api.routes.codec import CODEC_PREFIX
from api.services import web_ui_origins
from workflows.models import SEARCH_ATTRIBUTES

COMPOSE_PATH = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
INIT_SQL = REPO_ROOT / "deploy" / "postgres" / "init-databases.sh"

OURS = ("api", "worker", "sandbox")  # the services that run our image
LONG_RUNNING = ("postgres", "temporal", "temporal-ui", "api", "worker", "sandbox")
NAME = re.compile(r"\bAFTERCARE_[A-Z0-9_]+\b")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_PATH.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def compose_schema() -> dict[str, Any]:
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def env_example() -> tuple[dict[str, str], set[str]]:
    """(variables set, variables only mentioned commented out as `# NAME=`)."""
    set_, commented = {}, set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line):
            set_[match[1]] = match[2]
        elif match := re.match(r"^#\s*([A-Z_][A-Z0-9_]*)=", line):
            commented.add(match[1])
    return set_, commented


def code_reads() -> set[str]:
    """What the API and worker read: every variable of the settings model, NAME_FILE forms included."""
    return set(variable_names())


def documented_reads() -> set[str]:
    """What .env.example must mention: each variable once (its NAME_FILE form is said once, in general), and not
    the CLI's own (AFTERCARE_TOKEN, AFTERCARE_API_URL: a person's shell, not a deploy's .env)."""
    reads = code_reads() - {"AFTERCARE_TOKEN", "AFTERCARE_TOKEN_FILE", "AFTERCARE_API_URL"}
    return {n for n in reads if not (n.endswith("_FILE") and n.removesuffix("_FILE") in reads)}


def sandbox_reads() -> set[str]:
    return set(NAME.findall((REPO_ROOT / "sandbox" / "__main__.py").read_text()))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# --- (1) the Compose Specification ------------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_the_schema_check_rejects_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["worker"]["helthcheck"] = broken["services"]["worker"].pop("healthcheck")
    broken["services"]["api"]["restart"] = ["always"]
    errors = schema_errors(broken)
    assert any("helthcheck" in e for e in errors)
    assert any(e.startswith("services/api/restart") for e in errors)


# --- (2) agreement with the code --------------------------------------------------------------------------------------


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} names no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned to a version"
        assert "$" not in image, f"{name}: image {image!r} depends on a variable"
    for name in OURS:
        assert services[name]["image"] == f"aftercare:{version}", (
            f"{name}: our image is tagged with pyproject's version"
        )
        assert services[name]["build"]["dockerfile"] == "Dockerfile"


def test_api_worker_and_sandbox_start_as_aftercare_up_starts_them(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    planned = {
        child.name: child.argv[1:] for child in plan_children(Settings(home=tmp_path))
    }  # argv[0]: the venv's python
    api = services["api"]["command"]
    assert api[0] == "python" and api[1:4] == planned["api"][:3] == ["-m", "uvicorn", "api.main:app"]
    assert services["worker"]["command"] == ["python", *planned["worker"]]
    assert services["sandbox"]["command"][:3] == ["python", *planned["sandbox"][:2]]


def test_the_api_listens_where_compose_publishes_and_checks_it(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = services["api"]
    command = api["command"]
    port = int(command[command.index("--port") + 1])
    published = [str(p).rsplit(":", 1)[-1] for p in api["ports"]]
    assert published == [str(port)]
    env = environment(api)
    monkeypatch.setenv("AFTERCARE_API_PORT", env["AFTERCARE_API_PORT"])
    assert Settings().api_port == port
    assert f"127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from the other containers


def test_the_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container name allows one worker only"
    assert "ports" not in worker, "a published host port allows one worker only"
    assert worker.get("deploy", {}).get("replicas", 1) >= 1


def test_workers_and_api_reach_temporal_and_the_database_by_service_name(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("api", "worker"):
        env = environment(services[name])
        assert env["AFTERCARE_TEMPORAL_HOST"] in services
        for key in ("AFTERCARE_TEMPORAL_HOST", "AFTERCARE_TEMPORAL_PORT"):
            monkeypatch.setenv(key, env[key])
        assert Settings().temporal_address == services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"]
        url = re.match(r"postgresql\+psycopg://(\w+):\$\{[^}]+\}@([\w-]+):5432/(\w+)$", env["AFTERCARE_DATABASE_URL"])
        assert url, f"{name}: AFTERCARE_DATABASE_URL {env['AFTERCARE_DATABASE_URL']!r}"
        assert url[2] in services and url[1] == url[3] == "aftercare"
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert "('temporal', 7233)" in worker_check


def test_the_init_script_makes_the_databases_compose_uses(services: dict[str, dict[str, Any]]) -> None:
    script = INIT_SQL.read_text()
    created = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", script))
    temporal = environment(services["temporal"])
    assert created == {
        "aftercare": "aftercare",
        temporal["DBNAME"]: temporal["POSTGRES_USER"],
        temporal["VISIBILITY_DBNAME"]: temporal["POSTGRES_USER"],
    }
    assert temporal["SKIP_DB_CREATE"] == "true" and temporal["DB"] == "postgres12"
    mounts = services["postgres"]["volumes"]
    assert any(m.startswith("./deploy/postgres/init-databases.sh:/docker-entrypoint-initdb.d/") for m in mounts)
    assert "PASSWORD '" not in script, "passwords come from the environment, never from the script"
    assert "-v aftercare_password" not in script, "a password on psql's command line shows in `ps`"
    assert "\\getenv aftercare_password POSTGRES_AFTERCARE_PASSWORD" in script
    assert environment(services["postgres"])["POSTGRES_AFTERCARE_PASSWORD"].startswith("${POSTGRES_AFTERCARE_PASSWORD")


def test_search_attributes_registered_are_the_ones_journeys_publish(services: dict[str, dict[str, Any]]) -> None:
    listed = environment(services["temporal-setup"])["SEARCH_ATTRIBUTES"].split()
    assert dict(pair.split("=", 1) for pair in listed) == SEARCH_ATTRIBUTES
    assert services["api"]["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"


def test_the_web_ui_decodes_through_our_codec_endpoint(services: dict[str, dict[str, Any]]) -> None:
    ui = environment(services["temporal-ui"])
    endpoint = re.fullmatch(r"\$\{TEMPORAL_UI_CODEC_ENDPOINT:-(.+)\}", ui["TEMPORAL_CODEC_ENDPOINT"])
    assert endpoint, ui["TEMPORAL_CODEC_ENDPOINT"]
    set_, _ = env_example()
    for url in (endpoint[1], set_["TEMPORAL_UI_CODEC_ENDPOINT"]):
        assert url.endswith(CODEC_PREFIX), url
        # the API on the same site as the UI, or the console's SameSite=strict cookie never reaches /codec
        assert url.split("/")[2].split(":")[0] == set_["AFTERCARE_TEMPORAL_UI_URL"].split("/")[2].split(":")[0]
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"  # /codec needs the console's sign-in cookie
    assert ui["TEMPORAL_DEFAULT_NAMESPACE"] == environment(services["api"])["AFTERCARE_NAMESPACE"]
    assert all(str(p).startswith("127.0.0.1:") for p in services["temporal-ui"]["ports"]), "the UI has no sign-in"


def test_every_aftercare_variable_in_compose_and_env_example_is_one_the_code_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    known = code_reads()
    text = COMPOSE_PATH.read_text()
    sandbox_section = ENV_EXAMPLE.read_text().split("# --- sandbox:", 1)[1]
    unknown_compose = set(NAME.findall(text)) - known - sandbox_reads()
    for name, service in services.items():
        if name != "sandbox":
            unknown_compose |= {k for k in environment(service) if NAME.fullmatch(k) and k not in known}
    set_, commented = env_example()
    mentioned = {n for n in set_.keys() | commented if NAME.fullmatch(n)}
    unknown_example = mentioned - known - (sandbox_reads() & set(NAME.findall(sandbox_section)))
    assert unknown_compose == set(), "docker-compose.yml names variables nothing reads"
    assert unknown_example == set(), ".env.example documents variables nothing reads"


def test_env_example_documents_every_variable_settings_reads() -> None:
    set_, commented = env_example()
    missing = documented_reads() - set_.keys() - commented
    assert missing == set(), "add these to .env.example, with a line saying what each is for"


def test_every_variable_compose_needs_has_a_default_or_a_value_in_env_example() -> None:
    set_, _ = env_example()
    for variable, operator, _rest in REFERENCE.findall(COMPOSE_PATH.read_text()):
        if operator not in (":-", "-"):  # required (`:?`) or plain: .env.example must list it, uncommented
            assert variable in set_, f"docker-compose.yml needs {variable}: set it (uncommented) in .env.example"


def test_env_example_values_are_ones_the_settings_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    set_, _ = env_example()
    for name, value in set_.items():
        if name.startswith("AFTERCARE_") and value:
            monkeypatch.setenv(name, value)
    settings = Settings()  # raises SystemExit naming the variable on a wrong value
    assert settings.temporal_ui_url == set_["AFTERCARE_TEMPORAL_UI_URL"]
    # the browser's calls from the Web UI to /codec are let through from that origin (api/services.py)
    assert set_["AFTERCARE_TEMPORAL_UI_URL"] in web_ui_origins(settings.temporal_ui_url)
    assert settings.public_base_url == set_["AFTERCARE_PUBLIC_BASE_URL"]


def test_long_running_services_restart_and_are_health_checked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in LONG_RUNNING:
        assert services[name].get("restart") in ("always", "unless-stopped"), f"{name}: no restart policy"
    for name in ("postgres", "temporal", "api", "worker", "sandbox"):
        assert services[name]["healthcheck"]["test"], f"{name}: no health check"
    assert services["temporal-setup"]["restart"] == "on-failure"  # a one-shot: done once it succeeds


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = {
        str(mount).split(":", 1)[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
        if not str(mount).startswith((".", "/", "$"))
    }
    assert used == declared
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_sandbox_is_only_in_its_profile(services: dict[str, dict[str, Any]]) -> None:
    assert services["sandbox"]["profiles"] == ["sandbox"]
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiled == {"sandbox": ["sandbox"], "prometheus": ["observability"], "grafana": ["observability"]}
    assert not any("sandbox" in s.get("depends_on", {}) for s in services.values())


def test_secrets_come_from_env_not_from_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            if re.search(r"PASSWORD|PWD|SECRET|TOKEN|_KEYS?$", key) and key != "TEMPORAL_CODEC_PASS_ACCESS_TOKEN":
                assert value.startswith("${"), f"{name}: {key} is written in docker-compose.yml; take it from .env"
    for name in OURS:
        assert services[name]["env_file"] == [{"path": ".env", "required": True}]
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


# --- (3) the Dockerfile -----------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_is_multi_stage_from_pinned_slim_images() -> None:
    instructions = dockerfile_instructions()
    froms = [args.split() for op, args in instructions if op == "FROM"]
    assert len(froms) >= 2, "multi-stage: build dependencies stay out of the runtime image"
    stages = {f[f.index("AS") + 1] if "AS" in f else None for f in froms}
    for words in froms:
        image = words[0]
        if image in stages:
            continue
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and re.match(r"\d+\.\d+\.\d+", tag), f"FROM {image}: pin the version"
        assert "slim" in tag, f"FROM {image}: a slim base"
    assert any(op == "COPY" and "--from=build" in args for op, args in instructions)


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    instructions = dockerfile_instructions()
    last_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    users = [args.split(":")[0] for op, args in last_stage if op == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    assert users[-1] not in ("root", "0")


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())
    assert {".env", ".venv", ".aftercare", ".git"} <= ignored


def test_the_image_holds_what_the_services_run() -> None:
    """The build context (minus .dockerignore) holds every module the commands name and the templates."""
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and line[0] != "#"}
    for needed in ("api", "worker.py", "sandbox", "templates", "policies", "pyproject.toml", "README.md"):
        assert needed not in ignored and (REPO_ROOT / needed).exists(), needed
    env = dict(
        pair.split("=", 1)
        for op, args in dockerfile_instructions()
        if op == "ENV"
        for pair in args.split()
        if "=" in pair
    )
    assert env["PYTHONPATH"] == "/app" and env["AFTERCARE_TEMPLATES_DIR"] == "/app/templates"
    assert Path(env["AFTERCARE_TEMPLATES_DIR"]).name == "templates"


# --- docs/DEPLOYMENT.md -----------------------------------------------------------------------------------------------


def test_deployment_guide_names_only_services_and_variables_that_exist(services: dict[str, dict[str, Any]]) -> None:
    guide = (REPO_ROOT / "docs" / "DEPLOYMENT.md").read_text()
    for service in re.findall(r"docker compose (?:exec|run --rm)(?: -\S+)* (\S+)", guide):
        assert service in services, f"docs/DEPLOYMENT.md runs a command in {service!r}, which compose does not have"
    set_, commented = env_example()
    variables = set(
        re.findall(
            r"\b(?:AFTERCARE|POSTGRES|TEMPORAL_NAMESPACE|TEMPORAL_UI|POLICY_SOURCE|API|FORWARDED)_[A-Z0-9_]*[A-Z0-9]\b",
            guide,
        )
    )
    documented = set_.keys() | commented
    assert {v for v in variables if v not in documented and v.removesuffix("_FILE") not in documented} == set()
    for image in re.findall(r"`((?:postgres|temporalio/[\w-]+|aftercare):[\w.-]+)`", guide):
        assert image in {s["image"] for s in services.values()}, f"docs/DEPLOYMENT.md names {image}, not in compose"
    assert "--scale worker=" in guide


def test_temporal_is_made_with_the_history_shards_the_sizing_table_names(services: dict[str, dict[str, Any]]) -> None:
    """Shards are fixed when Temporal's database is first made: left to auto-setup's default (4), a growing
    merchant would have to move every journey to a new cluster."""
    shards = environment(services["temporal"])["NUM_HISTORY_SHARDS"]
    default = REFERENCE.fullmatch(shards)
    assert default is not None and default[1] == "TEMPORAL_HISTORY_SHARDS" and int(default[3]) >= 128
    assert env_example()[0]["TEMPORAL_HISTORY_SHARDS"] == default[3]
    assert "TEMPORAL_HISTORY_SHARDS" in (REPO_ROOT / "docs" / "DEPLOYMENT.md").read_text()
