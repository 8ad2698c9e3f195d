"""docker-compose.yml against the Compose specification and against what the code reads.

No Docker engine runs here, so this is the check that a renamed setting, subcommand, port, script or
secret breaks a test instead of the deployment. The schema is the Compose specification's own
(compose-spec/compose-spec, Apache-2.0), as vendored with its licence by the check-jsonschema
package: nothing is downloaded at test time.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from common.settings import PROJECT_ROOT, Settings
from continuum import cli
from continuum.deploy import compose

ENV = {**compose.read_env_file(), "KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qg"}
RAW = compose.load_raw()
DOC = compose.load(ENV)
SERVICES: dict[str, dict[str, Any]] = DOC["services"]
#: Where each bind-mounted or baked-in container path lives in this repository.
CONTAINER_ROOTS = {"/app/": PROJECT_ROOT, "/infra/kafka/": PROJECT_ROOT / "infra" / "kafka"}
SERVER_PROPERTIES = PROJECT_ROOT / "infra" / "kafka" / "server.properties"


def compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(compose_schema())


def kafka_properties() -> dict[str, str]:
    lines = SERVER_PROPERTIES.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_file_follows_the_compose_specification():
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator().iter_errors(RAW)]
    assert errors == []


def test_the_schema_check_is_live():
    # A misspelt key must fail, or the test above proves nothing.
    broken = {**RAW, "services": {**RAW["services"], "web": {**RAW["services"]["web"], "healthchek": {}}}}
    assert list(validator().iter_errors(broken))


def test_every_interpolated_variable_is_documented_or_defaulted():
    documented = set(compose.read_env_file())
    text = compose.COMPOSE_FILE.read_text()
    defaulted = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-", text))
    assert compose.variables_used(RAW) - documented - defaulted == set()
    with pytest.raises(compose.InterpolationError, match="KAFKA_CLUSTER_ID"):
        compose.load({**ENV, "KAFKA_CLUSTER_ID": ""})


def continuum_variables() -> set[str]:
    """Every CONTINUUM_* name the file sets or interpolates."""
    names = set(re.findall(r"\bCONTINUUM_[A-Z0-9_]+", compose.COMPOSE_FILE.read_text()))
    for service in SERVICES.values():
        names |= {k for k in compose.environment(service) if k.startswith("CONTINUUM_")}
    return names


def test_every_continuum_variable_is_a_setting():
    fields = {f"CONTINUUM_{name.upper()}" for name in Settings.model_fields}
    assert continuum_variables() - fields == set(), "a CONTINUUM_* variable the code does not read"


@pytest.mark.parametrize(
    "service", [s for s in SERVICES if "CONTINUUM_HOME" in compose.environment(SERVICES[s])]
)
def test_each_service_environment_makes_valid_settings(service: str, tmp_path: Path, monkeypatch):
    env = compose.environment(SERVICES[service])
    for key in [k for k in os.environ if k.startswith("CONTINUUM_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("CONTINUUM_"):
            if value.startswith("/run/secrets/"):
                (tmp_path / "secret").write_text("a-password\n")
                value = str(tmp_path / "secret")
            monkeypatch.setenv(key, value)
    settings = Settings()  # pydantic refuses a wrong type or an unknown choice
    assert str(settings.home) == "/var/lib/continuum"
    home_mounts = [v for v in SERVICES[service].get("volumes", []) if v.startswith("continuum-home:")]
    assert home_mounts == ["continuum-home:/var/lib/continuum"], "CONTINUUM_HOME must be the named volume"


def test_the_image_and_the_services_agree_on_continuum_home():
    dockerfile = (PROJECT_ROOT / "infra" / "Dockerfile").read_text()
    assert "CONTINUUM_HOME=/var/lib/continuum" in dockerfile
    assert "continuum-home" in DOC["volumes"]


def test_every_service_has_a_healthcheck_a_restart_policy_and_resource_limits():
    completed = {
        name
        for service in SERVICES.values()
        for name, dep in (service.get("depends_on") or {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }
    for name, service in SERVICES.items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert {"cpus", "memory"} <= set(limits), f"{name}: no CPU and memory limits"
        assert service.get("restart") in ("unless-stopped", "on-failure"), name
        if service.get("healthcheck") == {"disable": True}:
            # Only a one-shot step may go without: what follows waits for it to complete instead.
            assert name in completed and service["restart"] == "on-failure", name
        else:
            assert service["healthcheck"]["test"], f"{name}: no healthcheck"


def test_long_running_services_restart_on_failure():
    for name in ("lander", "web", "kafka", "postgres", "airflow-scheduler", "airflow-apiserver"):
        assert SERVICES[name]["restart"] == "unless-stopped"


def commands_of(service: dict[str, Any]) -> list[list[str]]:
    found = [compose.command(service)]
    test = (service.get("healthcheck") or {}).get("test")
    if test and test[0] == "CMD":
        found.append([str(t) for t in test[1:]])
    return [c for c in found if c]


def test_every_continuum_command_exists_in_the_cli():
    parser = cli.build_parser()
    used = [c for s in SERVICES.values() for c in commands_of(s) if c[0] == "continuum"]
    assert {c[1] for c in used} >= {"land", "serve", "providers"}
    for command in used:
        parser.parse_args(command[1:])  # argparse exits (SystemExit) on an unknown subcommand or option


def test_every_airflow_command_exists_in_airflow():
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    used = [c for s in SERVICES.values() for c in commands_of(s) if c[0] == "airflow"]
    assert {c[1] for c in used} == {"api-server", "scheduler", "dag-processor", "triggerer", "jobs"}
    for command in used:
        parser.parse_args(command[1:])


def test_every_python_module_and_script_the_services_run_exists():
    for service in SERVICES.values():
        env = compose.environment(service)
        words = [w for c in commands_of(service) for w in c]
        words += [v.split()[0] for k, v in env.items() if k.endswith("_CMD")]
        for word in words:
            for container_root, repo_root in CONTAINER_ROOTS.items():
                if word.startswith(container_root):
                    assert (repo_root / word[len(container_root) :]).is_file(), word
        for i, word in enumerate(words[:-1]):
            if word == "-m":
                assert importlib.util.find_spec(words[i + 1]), words[i + 1]


def test_the_dags_folder_holds_the_pipeline():
    folder = compose.environment(SERVICES["airflow-scheduler"])["AIRFLOW__CORE__DAGS_FOLDER"]
    assert (PROJECT_ROOT / folder.removeprefix("/app/") / "continuum_pipeline.py").is_file()


def test_the_airflow_init_creates_the_pool_the_dag_uses():
    from continuum.pipeline.airflow_home import WAREHOUSE_POOL

    dag = (PROJECT_ROOT / "dags" / "continuum_pipeline.py").read_text()
    assert "WAREHOUSE_POOL" in dag or WAREHOUSE_POOL in dag
    assert "WAREHOUSE_POOL" in (PROJECT_ROOT / "infra" / "airflow" / "init.sh").read_text()


def published(service: str) -> list[tuple[str, int]]:
    """(host part, container port) of each published port."""
    pairs = []
    for port in SERVICES[service].get("ports", []):
        host, _, container = str(port).rpartition(":")
        pairs.append((host, int(container)))
    return pairs


def test_ports_match_what_the_processes_listen_on():
    web_env = compose.environment(SERVICES["web"])
    assert int(web_env["CONTINUUM_WEB_PORT"]) == Settings.model_fields["web_port"].default
    assert [c for _, c in published("web")] == [Settings.model_fields["web_port"].default]
    assert web_env["CONTINUUM_WEB_HOST"] == "0.0.0.0"  # reachable from outside its container
    api = compose.command(SERVICES["airflow-apiserver"])
    assert [c for _, c in published("airflow-apiserver")] == [int(api[api.index("--port") + 1])]
    assert (
        "8080"
        in compose.environment(SERVICES["airflow-scheduler"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    )


def test_the_web_app_is_reached_through_a_tls_proxy_and_reads_airflow_as_a_viewer():
    web_env = compose.environment(SERVICES["web"])
    # Published on the host's loopback: the host's TLS proxy alone reaches it.
    assert [host.rsplit(":", 1)[0] for host, _ in published("web")] == ["127.0.0.1"]
    assert web_env["CONTINUUM_WEB_TRUST_PROXY"] == "true"
    api = compose.command(SERVICES["airflow-apiserver"])
    assert web_env["CONTINUUM_AIRFLOW_API_URL"] == f"http://airflow-apiserver:{api[api.index('--port') + 1]}"
    airflow_env = compose.environment(SERVICES["airflow-apiserver"])
    users = airflow_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert f"{web_env['CONTINUUM_AIRFLOW_API_USERNAME']}:viewer" in users.split(",")
    passwords = airflow_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert web_env["CONTINUUM_AIRFLOW_API_PASSWORD_FILE"] == passwords
    mount = Path(passwords).parent
    assert any(str(v).endswith(f":{mount}:ro") for v in SERVICES["web"]["volumes"]), "read-only auth volume"


def test_the_lander_tells_airflow_of_new_batches_as_an_op():
    """Issue 13's freshness: the DAG runs on the lander's asset events, not only on its 15-minute clock."""
    lander_env = compose.environment(SERVICES["lander"])
    api = compose.command(SERVICES["airflow-apiserver"])
    assert (
        lander_env["CONTINUUM_LAND_NOTIFY_AIRFLOW_URL"]
        == f"http://airflow-apiserver:{api[api.index('--port') + 1]}"
    )
    airflow_env = compose.environment(SERVICES["airflow-apiserver"])
    users = airflow_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")
    # Posting an asset event needs the op role in Airflow's SimpleAuthManager (viewer may only read).
    assert f"{lander_env['CONTINUUM_LAND_NOTIFY_USERNAME']}:op" in users
    passwords = airflow_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert lander_env["CONTINUUM_LAND_NOTIFY_PASSWORD_FILE"] == passwords
    mount = Path(passwords).parent
    assert any(str(v).endswith(f":{mount}:ro") for v in SERVICES["lander"]["volumes"]), (
        "read-only auth volume"
    )


def test_kafka_listeners_match_the_clients():
    props = kafka_properties()
    listeners = dict(item.split("://") for item in props["listeners"].split(","))
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    internal = compose.environment(SERVICES["lander"])
    assert f"kafka:{listeners['INTERNAL'].rsplit(':', 1)[1]}" == internal["CONTINUUM_KAFKA_BOOTSTRAP"]
    assert protocols["INTERNAL"] == internal["CONTINUUM_KAFKA_SECURITY_PROTOCOL"]
    assert internal["CONTINUUM_KAFKA_SASL_MECHANISM"] in props["sasl.enabled.mechanisms"].split(",")
    assert protocols["PROVIDERS"] == "SASL_SSL"
    assert [c for _, c in published("kafka")] == [int(listeners["PROVIDERS"].rsplit(":", 1)[1])]
    assert listeners["CONTROLLER"].startswith("127.0.0.1:"), "the controller must not be reachable"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["auto.create.topics.enable"] == "false"  # a prefix ACL then covers only the planned topic
    assert f"kafka-data:{props['log.dirs']}" in SERVICES["kafka"]["volumes"]


def test_each_service_uses_the_principal_the_acls_name():
    pipeline = Settings.model_fields["kafka_pipeline_username"].default
    for name in ("lander", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert compose.environment(SERVICES[name])["CONTINUUM_KAFKA_USERNAME"] == pipeline
    monitor = Settings.model_fields["kafka_monitor_username"].default
    assert compose.environment(SERVICES["web"])["CONTINUUM_KAFKA_USERNAME"] == monitor


def test_the_init_applies_the_plan_the_plan_step_writes():
    plan_cmd = compose.command(SERVICES["kafka-plan"])
    written = Path(plan_cmd[plan_cmd.index("--output") + 1])
    plan_mount = next(v for v in SERVICES["kafka-plan"]["volumes"] if v.startswith("kafka-plan:"))
    init_mount = next(v for v in SERVICES["kafka-init"]["volumes"] if v.startswith("kafka-plan:"))
    relative = written.relative_to(plan_mount.split(":")[1])
    assert compose.command(SERVICES["kafka-init"]) == [str(Path(init_mount.split(":")[1]) / relative)]
    assert SERVICES["kafka-init"]["depends_on"]["kafka-plan"]["condition"] == "service_completed_successfully"


def test_secrets_are_files_git_ignores_and_every_reference_is_mounted():
    for name, secret in DOC["secrets"].items():
        path = PROJECT_ROOT / secret["file"]
        assert path.parent == PROJECT_ROOT / "infra" / "secrets", name
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=PROJECT_ROOT)
        assert ignored.returncode == 0, f"{path} would be committed"
    for name, service in SERVICES.items():
        mounted = set(service.get("secrets", []))
        text = json.dumps(service) + "".join(
            (PROJECT_ROOT / "infra" / "kafka" / f).read_text() for f in ("start.sh", "init.sh")
        ) * (name in ("kafka", "kafka-init"))
        referenced = set(re.findall(r"/run/secrets}?/([a-z_]+)", text))
        referenced |= {
            v.split()[-1]
            for k, v in compose.environment(service).items()
            if "secret.sh" in v and k.endswith("_CMD")
        }
        assert referenced <= mounted, f"{name} reads secrets it does not mount: {referenced - mounted}"
        assert mounted <= set(DOC["secrets"]), name


def test_no_secret_value_is_in_the_file():
    text = compose.COMPOSE_FILE.read_text()
    assert not re.search(
        r"(?i)(password|secret|key)\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{12,}", text.replace("_FILE", "")
    )


def test_the_lock_file_the_image_installs_pins_every_dependency():
    # infra/Dockerfile installs constraints.txt and then the project with --no-deps: a dependency that
    # is not pinned there (the Postgres drivers, say) is missing from the image, not only unpinned.
    import tomllib

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in wanted}
    lines = (PROJECT_ROOT / "constraints.txt").read_text().splitlines()
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines if "==" in line}
    assert sorted(names - pinned) == [], "run `make constraints`"
