"""The deployment's Airflow, run for real outside Docker.

A throwaway PostgreSQL cluster (Debian's postgresql, installed by infra/system-packages.sh) stands in
for the compose `postgres` service. Each Airflow service's environment and command are taken from
docker-compose.yml itself, with only container paths, host names and the api-server's port mapped to
this machine, so the *_CMD secrets, the psycopg2/asyncpg drivers, the init script and the pool are the
deployment's own. Then:
- `continuum_pipeline` runs once through that metadata database (`airflow dags test`, with the
  scheduler's environment) against the embedded broker and a small simulated network, to success;
- the four services (api-server, scheduler, dag-processor, triggerer) start from their compose commands,
  the scheduler runs the DAG's first task through the LocalExecutor and the api-server's execution API,
  and each passes its compose healthcheck.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT, Settings
from continuum.deploy import compose
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.slowest]  # make test-all

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    database: str

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=self.database
        )


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: run `make test` (infra/system-packages.sh installs it)")
    return Path(found[-1]).parent


def as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs the tests as root, so drop to the `postgres` account.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    # Not under pytest's tmp_path: its parents are root's alone, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="continuum-postgres-"))
    data, run = root / "data", root / "run"
    password = secrets.token_urlsafe(16)
    (root / "pw").write_text(password + "\n")
    run.mkdir()
    if os.geteuid() == 0:
        for path in (root, root / "pw", run):
            shutil.chown(path, "postgres")
    bin_dir, port = postgres_bin(), free_port()
    # The cluster's superuser is the deployment's `airflow` role (POSTGRES_USER in the compose file).
    subprocess.run(
        as_postgres_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={root / 'pw'}",
             "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"]
        ),
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {run} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                          str(root / "log"), "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        yield Postgres(port, "airflow", password, "airflow")
    finally:
        subprocess.run(
            as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def deployment_env(service: str, postgres: Postgres, root: Path, broker: Settings) -> dict[str, str]:
    """The compose service's environment, with container paths and hosts mapped to this machine."""
    spec = compose.load({**compose.read_env_file(), "KAFKA_CLUSTER_ID": "test"})["services"][service]
    secrets_dir = root / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    for name, value in {
        "postgres_password": postgres.password,
        "airflow_jwt_secret": secrets.token_urlsafe(32),
        "airflow_secret_key": secrets.token_urlsafe(32),
        "airflow_fernet_key": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        "kafka_pipeline_password": "unused-by-the-plaintext-embedded-broker",
    }.items():
        if not (secrets_dir / name).exists():  # every service must read the same JWT secret
            (secrets_dir / name).write_text(value + "\n")
    mapping = {
        "/run/secrets/": f"{secrets_dir}/",
        "/app/": f"{PROJECT_ROOT}/",
        "/opt/airflow": str(root / "airflow"),
        "/var/lib/continuum": str(root / "home"),
    }
    env = {}
    for key, value in compose.environment(spec).items():
        for container_path, host_path in mapping.items():
            value = value.replace(container_path, host_path)
        env[key] = value
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["SECRETS_DIR"] = str(secrets_dir)  # infra/airflow/secret.sh reads /run/secrets in a container
    env["AIRFLOW_DB_HOST"], env["AIRFLOW_DB_PORT"] = "127.0.0.1", str(postgres.port)
    # The compose broker is Apache Kafka with SCRAM; here the embedded broker stands in, in PLAINTEXT
    # (tests/test_deploy_credentials.py covers the SCRAM path).
    for key in ("CONTINUUM_KAFKA_USERNAME", "CONTINUUM_KAFKA_PASSWORD_FILE"):
        env.pop(key, None)
    env["CONTINUUM_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    env["CONTINUUM_KAFKA_BOOTSTRAP"] = broker.bootstrap_servers
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CONTINUUM_", "AIRFLOW"))}
    base["PATH"] = f"{Path(sys.executable).parent}:{base.get('PATH', '')}"  # `airflow`, `python`
    return {**base, **env}


def run(command: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


def simulate_small_network(env: dict[str, str]) -> None:
    """A few days of a small network, with the feeds' mess, on the broker the DAG lands from."""
    continuum = str(Path(sys.executable).with_name("continuum"))
    run([continuum, "topics"], env, timeout_s=60)
    run([continuum, "simulate", "--participants", "12", "--seed", "3"], env, timeout_s=120)


@dataclass(frozen=True)
class Deployment:
    postgres: Postgres
    broker: Settings
    root: Path  # stands for the containers' paths: secrets, /opt/airflow, CONTINUUM_HOME

    def env(self, service: str) -> dict[str, str]:
        return deployment_env(service, self.postgres, self.root, self.broker)


@pytest.fixture(scope="module")
def deployment(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The compose `airflow-init` step run on the real PostgreSQL, and an embedded broker of its own."""
    from infra import embedded_broker
    from tests.conftest import make_settings

    root = tmp_path_factory.mktemp("deployment")
    broker = make_settings(root / "broker-home")
    embedded_broker.start(broker)
    try:
        deployed = Deployment(postgres, broker, root)
        init = run(
            ["bash", str(PROJECT_ROOT / "infra" / "airflow" / "init.sh")], deployed.env("airflow-init"), 240
        )
        assert "migrated" in init.stdout
        yield deployed
    finally:
        embedded_broker.stop(broker)


def test_the_init_step_migrates_the_database_and_makes_the_pool(deployment: Deployment):
    with deployment.postgres.connect() as db, db.cursor() as cur:
        cur.execute("select version_num from alembic_version")
        assert cur.fetchone(), "airflow db migrate left no alembic version"
        cur.execute("select slots from slot_pool where pool = 'continuum_warehouse'")
        assert cur.fetchone() == (1,)


def test_the_pipeline_runs_once_through_the_deployments_airflow(deployment: Deployment):
    # The scheduler's environment is the one that runs tasks (LocalExecutor): run the DAG with it.
    env = deployment.env("airflow-scheduler")
    simulate_small_network(env)
    started = time.monotonic()
    done = run([AIRFLOW, "dags", "test", "continuum_pipeline"], env, timeout_s=300)
    with deployment.postgres.connect() as db, db.cursor() as cur:
        cur.execute("select state from dag_run where dag_id = 'continuum_pipeline'")
        runs = [row[0] for row in cur.fetchall()]
        cur.execute("select task_id, state from task_instance where dag_id = 'continuum_pipeline'")
        tasks = dict(cur.fetchall())  # a mapped task keeps the state of its last instance: enough here
    assert runs == ["success"], done.stdout[-4000:] + done.stderr[-4000:]
    assert tasks["dbt_build"] == "success" and tasks["publish"] == "success", tasks
    assert raw_event_count(Settings(home=deployment.root / "home")) > 0
    print(f"one DAG run through the deployment's Airflow on PostgreSQL: {time.monotonic() - started:.0f}s")


def test_ops_shows_the_last_dag_runs_from_the_real_api_server(deployment: Deployment, monkeypatch):
    """/ops of the report app, configured as the compose `web` service is, reads the runs of the test
    above from the deployment's api-server (REST API, JWT from /auth/token as the viewer continuum-web)."""
    from fastapi.testclient import TestClient

    from continuum.web import credentials
    from continuum.web.app import create_app

    with deployment.postgres.connect() as db, db.cursor() as cur:
        cur.execute("select run_id, state from dag_run where dag_id = 'continuum_pipeline'")
        runs = cur.fetchall()
    assert runs, "no DAG run in the metadata database: run this module in order (the pipeline test first)"
    api_port = free_port()
    (deployment.root / "airflow" / "auth").mkdir(parents=True, exist_ok=True)
    with open(deployment.root / "airflow-apiserver-ops.log", "w") as log:
        server = subprocess.Popen(
            local(compose.command(compose_service("airflow-apiserver")), api_port),
            env=deployment.env("airflow-apiserver"), stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    try:
        health = f"http://127.0.0.1:{api_port}/api/v2/monitor/health"
        wait_until(lambda: _answers(health), {"airflow-apiserver": server}, deployment.root, timeout_s=120)
        for key, value in deployment.env("web").items():
            if key.startswith("CONTINUUM_"):
                monkeypatch.setenv(key, value.replace("airflow-apiserver:8080", f"127.0.0.1:{api_port}"))
        settings = Settings()
        assert settings.airflow_api_username == "continuum-web"
        operator = credentials.grant(settings.web_credentials_path, credentials.Role.OPERATOR, "Olu, ops")
        page = TestClient(create_app(settings)).get("/ops", headers={"Authorization": f"Bearer {operator}"})
        assert page.status_code == 200
        table = page.text.split('data-table="dag_runs"')[1].split("</table>")[0]
        for run_id, state in runs:
            assert run_id in table and state in table, (run_id, state, table[:2000])
    finally:
        stop_group(server)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def compose_service(service: str) -> dict:
    return compose.load({**compose.read_env_file(), "KAFKA_CLUSTER_ID": "t"})["services"][service]


def local(words: list[str], api_port: int) -> list[str]:
    """A compose command or healthcheck as run here: this venv's programs, the api-server on a free port."""
    words = [w.replace(":8080/", f":{api_port}/") for w in words]
    programs = {"airflow": AIRFLOW, "python": sys.executable}
    return [
        programs.get(w, w) if i == 0 else str(api_port) if w == "8080" else w for i, w in enumerate(words)
    ]


def test_the_four_airflow_services_start_run_tasks_and_pass_their_healthchecks(deployment: Deployment):
    api_port = free_port()
    (deployment.root / "airflow" / "auth").mkdir(parents=True, exist_ok=True)  # the image makes it
    processes = {}
    try:
        for service in AIRFLOW_SERVICES:
            env = deployment.env(service)
            env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{api_port}/execution/"
            with open(deployment.root / f"{service}.log", "w") as log:
                processes[service] = subprocess.Popen(
                    local(compose.command(compose_service(service)), api_port),
                    env=env, stdout=log, stderr=log, start_new_session=True,
                )  # fmt: skip
        # catchup=False: the scheduler makes a run for the latest 15 minutes as soon as it sees the DAG,
        # and its first task runs through the LocalExecutor and the api-server's execution API.
        wait_until(lambda: "success" in task_states(deployment.postgres, "land"), processes, deployment.root)
        checks = {
            service: subprocess.Popen(
                local([str(w) for w in compose_service(service)["healthcheck"]["test"][1:]], api_port),
                env=deployment.env(service),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
            for service in AIRFLOW_SERVICES
        }
        for service, check in checks.items():
            output, _ = check.communicate(timeout=120)
            assert check.returncode == 0, f"{service} healthcheck: {output[-2000:]}"
    finally:
        for process in processes.values():
            stop_group(process)


def task_states(postgres: Postgres, task_id: str) -> list[str]:
    with postgres.connect() as db, db.cursor() as cur:
        cur.execute(
            "select ti.state from task_instance ti join dag_run dr using (dag_id, run_id) "
            "where ti.dag_id = 'continuum_pipeline' and ti.task_id = %s and dr.run_type = 'scheduled'",
            (task_id,),
        )
        return [row[0] for row in cur.fetchall()]


def wait_until(condition, processes: dict[str, subprocess.Popen], root: Path, timeout_s: float = 150) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes.values()), logs(root)
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"not within {timeout_s}s\n{logs(root)}")


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the service's own process group (it started its workers there), then SIGKILL."""
    from continuum.pipeline.airflow_home import stop_process_group

    stop_process_group(process, grace_s=20)


def logs(root: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2500:]}" for p in sorted(root.glob("airflow-*.log")))


def raw_event_count(settings: Settings) -> int:
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as db:  # readers get no raw events
        return db.execute("select count(*) from raw.events").fetchone()[0]


# The LocalExecutor runs mapped validate tasks at once: they must not race on shared GX stores.
def test_validate_tasks_can_run_at_once_on_one_continuum_home(tmp_path: Path):
    script = (
        "import sys\nfrom common.settings import Settings\n"
        "from expectations.runner import ValidationProject\n"
        "for _ in range(3):\n    ValidationProject(Settings(home=sys.argv[1]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    tasks = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    failures = [err[-600:] for t in tasks if (err := t.communicate(timeout=180)[1]) and t.returncode != 0]
    assert failures == []
