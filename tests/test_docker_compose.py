"""The scaled-out Docker stack is coherent.

No Docker engine runs on the development machines, so docker-compose.yml and the Dockerfile are
checked by parsing them; `docker compose config` runs too when the compose plugin is installed.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from infra.embedded import NAMESPACE_RETENTION
from schemas.contract import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
POSTGRES_INIT_DIR = ROOT / "docker" / "postgres-init"
UI_TUNNEL_FILE = ROOT / "docker" / "temporal-ui-tunnel.yml"
GENERATE_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'

SOURCE_DIRS = ("schemas", "workflows", "activities", "application", "infra", "web", "migrations")
ENTRY_MODULES = ("worker.py", "starter.py", "portal.py")
EXPECTED_SERVICES = {
    "postgresql",
    "temporal",
    "temporal-schema",
    "temporal-admin-tools",
    "temporal-ui",
    "worker",
    "portal",
}
PACTE_SEARCH_ATTRIBUTES = SEARCH_ATTRIBUTES  # the compose stack registers what the code uses

# ${VAR}, ${VAR-default}, ${VAR:-default}, ${VAR:?message}; `$$` is compose's escaped dollar.
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """What compose makes of a value when none of the variables is set (a required one,
    `${VAR:?message}`, would stop compose: here it is an empty value)."""
    escaped = "\0"
    value = value.replace("$$", escaped)
    value = _INTERPOLATION.sub(
        lambda match: match.group(3) or "" if match.group(2) == "-" else "", value
    )
    return value.replace(escaped, "$")


def required_variables(value: str) -> dict[str, str]:
    """The variables a value requires (`${VAR:?message}`), with the message compose prints."""
    return {
        match.group(1): match.group(3)
        for match in _INTERPOLATION.finditer(value)
        if match.group(2) == "?"
    }


def defaulted_variables(value: str) -> dict[str, str]:
    """The variables a value takes a default for (`${VAR:-default}`), with that default."""
    return {
        match.group(1): match.group(3)
        for match in _INTERPOLATION.finditer(value)
        if match.group(2) == "-"
    }


def networks(service: dict[str, Any]) -> set[str]:
    """The networks a service joins (compose puts it on `default` when none is named)."""
    raw = service.get("networks") or ["default"]
    return {str(name) for name in raw}


def published_ports(service: dict[str, Any]) -> list[str]:
    """The `ports` entries, interpolated, in their short form."""
    found: list[str] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            host_ip = entry.get("host_ip", "")
            found.append(f"{host_ip}:{entry.get('published', '')}:{entry.get('target', '')}")
        else:
            found.append(interpolate(str(entry)))
    return found


def script_of(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else "\n".join(str(part) for part in command)


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def services() -> dict[str, dict[str, Any]]:
    found = load_compose().get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml declares no services"
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either the mapping or the KEY=VALUE list form."""
    raw = service.get("environment") or {}
    if isinstance(raw, dict):
        return {str(key): "" if value is None else str(value) for key, value in raw.items()}
    pairs = (str(item).partition("=") for item in raw)
    return {key: value for key, _, value in pairs}


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {str(name): {} for name in raw}
    return {str(name): dict(spec or {}) for name, spec in raw.items()}


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, source) of each mount: "volume" for named volumes, "bind" for host paths."""
    mounts: list[tuple[str, str]] = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("source"):
                mounts.append((str(entry.get("type", "volume")), str(entry["source"])))
            continue
        source, separator, _ = str(entry).partition(":")
        if not separator:
            continue  # an anonymous volume: a container path only
        is_path = source.startswith((".", "/", "~")) or "/" in source
        mounts.append(("bind" if is_path else "volume", source))
    return mounts


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_copy_sources() -> set[str]:
    sources: set[str] = set()
    for keyword, arguments in dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        if arguments.startswith("["):
            tokens = [str(token) for token in yaml.safe_load(arguments)]
        else:
            tokens = [token for token in shlex.split(arguments) if not token.startswith("--")]
        for source in tokens[:-1]:
            normalised = source.removeprefix("./").rstrip("/")
            sources.add(normalised or ".")
    return sources


def test_the_stack_has_postgresql_temporal_the_ui_the_attribute_setup_and_workers() -> None:
    assert set(services()) >= EXPECTED_SERVICES


def test_every_depends_on_target_is_a_service_of_the_stack() -> None:
    declared = set(services())
    for name, service in services().items():
        unknown = set(depends_on(service)) - declared
        assert not unknown, f"{name} depends on undeclared services {sorted(unknown)}"


def test_every_named_volume_a_service_mounts_is_declared() -> None:
    declared = set(load_compose().get("volumes") or {})
    for name, service in services().items():
        for kind, source in volume_mounts(service):
            if kind == "volume":
                assert source in declared, f"{name} mounts undeclared volume {source!r}"


def test_every_bind_mount_is_a_path_of_the_repository() -> None:
    for name, service in services().items():
        for kind, source in volume_mounts(service):
            if kind == "bind":
                assert (ROOT / source).exists(), f"{name} bind-mounts missing path {source!r}"


def test_postgresql_creates_the_pacte_database_in_an_init_script() -> None:
    mounted = {source for kind, source in volume_mounts(services()["postgresql"]) if kind == "bind"}
    assert "./docker/postgres-init" in mounted
    scripts = "\n".join(p.read_text(encoding="utf-8") for p in POSTGRES_INIT_DIR.glob("*.sql"))
    assert re.search(r"CREATE\s+DATABASE\s+pacte\b", scripts, re.IGNORECASE)


def test_the_worker_is_told_where_temporal_its_namespace_and_its_database_are() -> None:
    worker_environment = environment(services()["worker"])
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATABASE_URL"} <= set(worker_environment)
    assert worker_environment["TEMPORAL_NAMESPACE"]
    assert worker_environment.get("PACTE_TASK_QUEUE") == "pacte-conventions"


def test_the_worker_database_url_points_at_the_pacte_database_of_a_service_of_the_stack() -> None:
    url = urlsplit(interpolate(environment(services()["worker"])["DATABASE_URL"]))
    assert url.scheme in {"postgresql", "postgres"}
    assert url.hostname in services()
    assert url.port == 5432
    assert url.path == "/pacte"


def test_the_worker_temporal_address_points_at_the_temporal_service() -> None:
    address = interpolate(environment(services()["worker"])["TEMPORAL_ADDRESS"])
    host, _, port = address.rpartition(":")
    assert host == "temporal" and host in services()
    assert port == "7233"


def test_the_worker_is_built_from_the_dockerfile_and_scales_out() -> None:
    worker = services()["worker"]
    build = worker["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert worker["deploy"]["replicas"] >= 2
    # A fixed container name or a published port would stop `--scale worker=N`.
    assert "container_name" not in worker
    assert not worker.get("ports")


def test_the_worker_starts_only_once_temporal_and_its_search_attributes_are_ready() -> None:
    conditions = {
        target: spec.get("condition") for target, spec in depends_on(services()["worker"]).items()
    }
    assert conditions.get("postgresql") == "service_healthy"
    assert conditions.get("temporal") == "service_healthy"
    assert conditions.get("temporal-admin-tools") == "service_completed_successfully"


def test_temporal_waits_for_postgresql_to_pass_its_pg_isready_healthcheck() -> None:
    stack = services()
    assert "pg_isready" in " ".join(stack["postgresql"]["healthcheck"]["test"])
    assert depends_on(stack["temporal"])["postgresql"].get("condition") == "service_healthy"
    assert "healthcheck" in stack["temporal"]


def test_temporal_runs_the_maintained_server_image_on_postgres12() -> None:
    # temporalio/auto-setup gets no updates or security patches since Temporal 1.30.
    stack = services()
    for name, service in stack.items():
        assert "auto-setup" not in str(service.get("image", "")), name
    temporal = stack["temporal"]
    assert re.fullmatch(r"temporalio/server:1\.(3\d|[4-9]\d)\.\d+", temporal["image"])
    temporal_environment = environment(temporal)
    assert temporal_environment["DB"] == "postgres12"
    assert temporal_environment["POSTGRES_SEEDS"] in stack
    assert temporal_environment["DB_PORT"] == "5432"


def test_the_admin_tools_of_the_servers_release_set_up_its_schema_before_it_starts() -> None:
    stack = services()
    schema = stack["temporal-schema"]
    server_version = str(stack["temporal"]["image"]).rpartition(":")[2]
    for name in ("temporal-schema", "temporal-admin-tools"):
        assert stack[name]["image"] == f"temporalio/admin-tools:{server_version}", name
        assert stack[name].get("restart") == "no", f"{name} is a one-shot job"
    script = script_of(schema)
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert re.search(rf"temporal-sql-tool .*{re.escape(step)}", script), step
    assert "temporal temporal_visibility" in script
    assert "/etc/temporal/schema/postgresql/v12" in script
    assert '--plugin "$${SQL_PLUGIN}"' in script
    assert environment(schema)["SQL_PLUGIN"] == "postgres12"
    assert depends_on(schema)["postgresql"].get("condition") == "service_healthy"
    assert (
        depends_on(stack["temporal"])["temporal-schema"].get("condition")
        == "service_completed_successfully"
    )


def test_every_image_is_pinned_to_an_explicit_tag() -> None:
    for name, service in services().items():
        image = service.get("image")
        if image is None or "build" in service:
            continue
        _, separator, tag = str(image).rpartition(":")
        assert separator and tag and tag != "latest", f"{name} image {image!r} is not pinned"


def test_the_ui_talks_to_temporal_and_is_published_nowhere() -> None:
    ui = services()["temporal-ui"]
    assert str(ui["image"]).startswith("temporalio/ui:")
    assert environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert not ui.get("ports"), "the UI has no sign-in: it must not be published"


def test_the_ui_tunnel_override_publishes_it_on_the_hosts_loopback_only() -> None:
    override = yaml.safe_load(UI_TUNNEL_FILE.read_text(encoding="utf-8"))
    assert set(override["services"]) == {"temporal-ui"}
    ports = published_ports(override["services"]["temporal-ui"])
    assert ports == ["127.0.0.1:8080:8080"]
    assert "ssh -N -L 8080:127.0.0.1:8080" in UI_TUNNEL_FILE.read_text(encoding="utf-8")


def test_only_the_portal_is_published_and_on_the_hosts_loopback_by_default() -> None:
    stack = services()
    published = {name for name, service in stack.items() if service.get("ports")}
    assert published == {"portal"}
    for port in published_ports(stack["portal"]):
        host_ip = port.split(":")[0]
        assert host_ip == "127.0.0.1", f"the portal is published on {host_ip or 'every address'}"


def test_postgresql_temporal_and_the_ui_are_on_the_internal_network_only() -> None:
    stack = services()
    declared = load_compose().get("networks") or {}
    internal = {name for name, spec in declared.items() if (spec or {}).get("internal") is True}
    assert internal, "no internal network is declared"
    for name in (
        "postgresql",
        "temporal",
        "temporal-schema",
        "temporal-admin-tools",
        "temporal-ui",
    ):
        assert networks(stack[name]) <= internal, f"{name} joins {sorted(networks(stack[name]))}"
    for name in ("worker", "portal"):
        assert networks(stack[name]) & internal, f"{name} cannot reach Temporal"
    for name, service in stack.items():
        assert networks(service) <= set(declared), f"{name} joins an undeclared network"


SECRET_VARIABLES = ("POSTGRES_PASSWORD", "PACTE_DB_PASSWORD", "PACTE_LINK_SECRET")


def test_secrets_must_be_provided_and_compose_says_how_to_generate_them() -> None:
    stack = services()
    raw_values = {
        "postgresql POSTGRES_PASSWORD": environment(stack["postgresql"])["POSTGRES_PASSWORD"],
        "postgresql PACTE_DB_PASSWORD": environment(stack["postgresql"])["PACTE_DB_PASSWORD"],
        "temporal-schema SQL_PASSWORD": environment(stack["temporal-schema"])["SQL_PASSWORD"],
        "temporal POSTGRES_PWD": environment(stack["temporal"])["POSTGRES_PWD"],
        "worker DATABASE_URL": environment(stack["worker"])["DATABASE_URL"],
        "portal DATABASE_URL": environment(stack["portal"])["DATABASE_URL"],
        "worker PACTE_LINK_SECRET": environment(stack["worker"])["PACTE_LINK_SECRET"],
        "portal PACTE_LINK_SECRET": environment(stack["portal"])["PACTE_LINK_SECRET"],
    }
    for where, value in raw_values.items():
        required = required_variables(value)
        assert set(required) & set(SECRET_VARIABLES), f"{where}: {value!r} needs no secret"
    for service_name, service in stack.items():
        for name, value in environment(service).items():
            defaults = defaulted_variables(value)
            known = set(defaults) & set(SECRET_VARIABLES)
            assert not known, f"{service_name} {name}: a default for {sorted(known)}"
    # The first mention of each secret is the one compose reports: it says how to make one.
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for variable in SECRET_VARIABLES:
        first = re.search(rf"\$\{{{variable}:\?([^}}]*)\}}", text)
        assert first and GENERATE_SECRET in first.group(1), variable


def test_the_programs_run_as_production_in_the_stack() -> None:
    for name in ("worker", "portal"):
        assert environment(services()[name])["PACTE_ENV"] == "production", name


def test_the_admin_tools_register_every_pacte_search_attribute_with_its_type() -> None:
    admin_tools = services()["temporal-admin-tools"]
    command = admin_tools["command"]
    script = command if isinstance(command, str) else "\n".join(str(part) for part in command)
    assert "temporal operator search-attribute create" in script
    registered = dict(re.findall(r"\b(Convention\w+)=(\w+)", script))
    assert registered == PACTE_SEARCH_ATTRIBUTES
    assert depends_on(admin_tools)["temporal"].get("condition") == "service_healthy"


def test_the_namespace_keeps_closed_histories_as_long_as_the_embedded_stack_does() -> None:
    hours = f"{int(NAMESPACE_RETENTION.total_seconds() // 3600)}h"
    # The server image creates no namespace: the one-shot job creates it with the retention,
    # and updates an existing one to it.
    admin_tools = services()["temporal-admin-tools"]
    assert interpolate(environment(admin_tools)["NAMESPACE_RETENTION"]) == hours
    script = script_of(admin_tools)
    for verb in ("create", "update"):
        assert re.search(
            rf"temporal operator namespace {verb} .*--retention \"\$\$\{{NAMESPACE_RETENTION\}}\"",
            script,
        ), verb


def test_the_dockerfile_copies_every_source_directory_and_entry_module() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    required = {name for name in SOURCE_DIRS if (ROOT / name).is_dir()}
    required |= set(ENTRY_MODULES)
    packages = setuptools.get("packages", [])
    if isinstance(packages, dict):  # found by [tool.setuptools.packages.find]: its patterns
        packages = [pattern.rstrip("*") for pattern in packages["find"]["include"]]
    required |= set(packages)
    required |= {f"{module}.py" for module in setuptools.get("py-modules", [])}
    copied = dockerfile_copy_sources()
    if "." in copied:
        return  # `COPY . .` takes the whole build context
    assert "pyproject.toml" in copied
    assert required <= copied, f"the Dockerfile does not copy {sorted(required - copied)}"


def test_the_dockerignore_keeps_everything_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".git", "tests"} <= set(patterns)
    for source in dockerfile_copy_sources():
        excluded = [pattern for pattern in patterns if fnmatch.fnmatch(source, pattern)]
        assert not excluded, f"{source} is copied but .dockerignore excludes it via {excluded}"


def test_the_dockerfile_installs_pacte_and_runs_the_worker_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert any(k == "RUN" and "pip install --no-cache-dir ." in a for k, a in instructions)
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert instructions[-1] == ("CMD", '["python", "worker.py"]')


def _docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose_available(), reason="docker compose plugin not installed")
def test_docker_compose_itself_accepts_the_file() -> None:
    # `config` only parses and validates: it needs no running Docker engine.
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_portal_runs_the_image_in_two_replicas_without_a_fixed_name() -> None:
    portal = services()["portal"]
    assert portal["image"] == services()["worker"]["image"]
    assert portal["command"][:2] == ["python", "portal.py"]
    assert "0.0.0.0" in portal["command"]
    assert portal["deploy"]["replicas"] >= 2
    assert "container_name" not in portal
    # One host port per replica: a single fixed port would stop the second replica.
    published = published_ports(portal)
    host_range = published[0].split(":")[-2]
    first, _, last = host_range.partition("-")
    assert last and int(last) - int(first) + 1 >= portal["deploy"]["replicas"]


def test_the_portal_reads_the_same_temporal_database_and_link_secret_as_the_worker() -> None:
    portal, worker = environment(services()["portal"]), environment(services()["worker"])
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATABASE_URL", "PACTE_LINK_SECRET"):
        assert portal[name] == worker[name], name
    assert portal["PACTE_PUBLIC_URL"] == worker["PACTE_PUBLIC_URL"]
    assert set(required_variables(portal["PACTE_LINK_SECRET"])) == {"PACTE_LINK_SECRET"}
    targets = depends_on(services()["portal"])
    assert targets["postgresql"]["condition"] == "service_healthy"
    assert targets["temporal"]["condition"] == "service_healthy"
