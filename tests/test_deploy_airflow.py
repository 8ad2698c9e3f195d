"""The deployment's Airflow, run for real outside Docker.

A throwaway PostgreSQL cluster (Debian's postgresql, installed by infra/system-packages.sh) stands in
for the compose `postgres` service. The environment of the compose file's `airflow-init` and
`airflow-scheduler` services is taken from docker-compose.yml itself, with only container paths and
host names mapped to this machine, so the *_CMD secrets, the psycopg2/asyncpg drivers, the migration
script and the pool are the deployment's own. Then `continuum_pipeline` runs once through that
metadata database (`airflow dags test`) against the embedded broker.
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

from continuum.deploy import compose
from continuum.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.slow

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
    from tests.conftest import free_port

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


def test_airflow_init_and_one_pipeline_run_on_postgres(
    postgres: Postgres, own_broker: Settings, tmp_path: Path
):
    broker = own_broker
    env = deployment_env("airflow-init", postgres, tmp_path, broker)
    started = time.monotonic()
    init = run(["bash", str(PROJECT_ROOT / "infra" / "airflow" / "init.sh")], env, timeout_s=240)
    assert "migrated" in init.stdout
    with postgres.connect() as db, db.cursor() as cur:
        cur.execute("select version_num from alembic_version")
        assert cur.fetchone(), "airflow db migrate left no alembic version"
        cur.execute("select slots from slot_pool where pool = 'continuum_warehouse'")
        assert cur.fetchone() == (1,)
    migrated_s = time.monotonic() - started

    # The scheduler's environment is the one that runs tasks (LocalExecutor): run the DAG with it.
    env = deployment_env("airflow-scheduler", postgres, tmp_path, broker)
    simulate_small_network(env)
    started = time.monotonic()
    done = run([AIRFLOW, "dags", "test", "continuum_pipeline"], env, timeout_s=300)
    with postgres.connect() as db, db.cursor() as cur:
        cur.execute("select state from dag_run where dag_id = 'continuum_pipeline'")
        runs = [row[0] for row in cur.fetchall()]
        cur.execute("select task_id, state from task_instance where dag_id = 'continuum_pipeline'")
        tasks = dict(cur.fetchall())  # a mapped task keeps the state of its last instance: enough here
    assert runs == ["success"], done.stdout[-4000:] + done.stderr[-4000:]
    assert tasks["dbt_build"] == "success" and tasks["publish"] == "success", tasks
    assert raw_event_count(Settings(home=tmp_path / "home")) > 0
    print(f"airflow init on postgres {migrated_s:.0f}s; one DAG run {time.monotonic() - started:.0f}s")


def raw_event_count(settings: Settings) -> int:
    import duckdb

    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as db:
        return db.execute("select count(*) from raw.events").fetchone()[0]
