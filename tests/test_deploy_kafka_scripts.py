"""infra/kafka/start.sh and init.sh, run by bash with stand-ins for Kafka's tools (no Kafka here), and
infra/make-secrets.sh.

They check what the scripts themselves decide: the broker's configuration is filled in completely, the
admin SCRAM user is created when storage is formatted, the admin's client settings reach the healthcheck
and the init step, and a missing secret stops them before Kafka is started.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT

KAFKA_DIR = PROJECT_ROOT / "infra" / "kafka"
ADMIN_PASSWORD = "Adm1n-password_0123456789"


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    """A KAFKA_BIN of tools that record their arguments, a secrets dir, a runtime dir."""
    bin_dir, secrets, runtime = tmp_path / "bin", tmp_path / "secrets", tmp_path / "runtime"
    for d in (bin_dir, secrets, runtime):
        d.mkdir()
    for tool in ("kafka-storage.sh", "kafka-server-start.sh", "kafka-topics.sh"):
        (bin_dir / tool).write_text(f'#!/usr/bin/env bash\nprintf "{tool}\\t%s\\n" "$*" >> "$CALLS"\n')
        (bin_dir / tool).chmod(0o755)
    (secrets / "kafka_users").write_text(f"admin:{ADMIN_PASSWORD}\nokc-gvi:Pr0vider-password_0123456789\n")
    return {
        **os.environ,
        "KAFKA_BIN": str(bin_dir),
        "SECRETS_DIR": str(secrets),
        "KAFKA_RUNTIME_DIR": str(runtime),
        "KAFKA_CONFIG_TEMPLATE": str(KAFKA_DIR / "server.properties"),
        "KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qg",
        "KAFKA_PUBLIC_HOST": "kafka.example.org",
        "CALLS": str(tmp_path / "calls"),
    }


def calls(env: dict[str, str]) -> list[list[str]]:
    return [line.split("\t") for line in Path(env["CALLS"]).read_text().splitlines()]


def test_start_fills_the_configuration_formats_with_the_admin_user_and_starts(stand_ins: dict[str, str]):
    done = subprocess.run(
        ["bash", str(KAFKA_DIR / "start.sh")], env=stand_ins, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    runtime = Path(stand_ins["KAFKA_RUNTIME_DIR"])
    config = (runtime / "server.properties").read_text()
    assert not re.search(r"@[A-Z_]+@", config)  # every placeholder filled
    assert "PROVIDERS://kafka.example.org:9094" in config
    assert f'username="admin" password="{ADMIN_PASSWORD}";' in config
    assert (runtime / "server.properties").stat().st_mode & 0o077 == 0  # the admin password stays private
    assert f'password="{ADMIN_PASSWORD}";' in (runtime / "admin.properties").read_text()
    (storage, format_args), (server, start_args) = calls(stand_ins)
    assert storage == "kafka-storage.sh" and server == "kafka-server-start.sh"
    assert format_args == (
        f"format --ignore-formatted -t MkU3OEVBNTcwNTJENDM2Qg -c {runtime}/server.properties "
        f"--add-scram SCRAM-SHA-512=[name=admin,password={ADMIN_PASSWORD}]"
    )
    assert start_args == f"{runtime}/server.properties"


def test_start_refuses_without_an_admin_password(stand_ins: dict[str, str]):
    Path(stand_ins["SECRETS_DIR"], "kafka_users").write_text("okc-gvi:Pr0vider-password_0123456789\n")
    done = subprocess.run(
        ["bash", str(KAFKA_DIR / "start.sh")], env=stand_ins, capture_output=True, text=True
    )
    assert done.returncode != 0 and "no usable admin password" in done.stderr
    assert not Path(stand_ins["CALLS"]).exists()  # Kafka was not started


def test_init_runs_a_plan_from_stdin_as_the_admin(stand_ins: dict[str, str]):
    plan = '"$KAFKA_BIN/kafka-topics.sh" --command-config "$KAFKA_COMMAND_CONFIG" '
    plan += '--bootstrap-server "$KAFKA_BOOTSTRAP"\n'
    plan += 'cat "$KAFKA_COMMAND_CONFIG" > "$CALLS.config"\n'
    done = subprocess.run(
        ["bash", str(KAFKA_DIR / "init.sh"), "-"], env=stand_ins, input=plan, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    ((tool, args),) = calls(stand_ins)
    config_path = args.split()[1]
    assert tool == "kafka-topics.sh" and args.endswith("--bootstrap-server kafka:9092")
    assert f'password="{ADMIN_PASSWORD}";' in Path(stand_ins["CALLS"] + ".config").read_text()
    assert not Path(config_path).exists()  # the admin's client settings are removed when it is done


def test_make_secrets_makes_every_compose_secret_once(tmp_path: Path):
    from continuum.deploy import compose

    (tmp_path / "infra" / "secrets").mkdir(parents=True)
    for name in ("make-secrets.sh", ".env.example"):
        (tmp_path / "infra" / name).write_text((PROJECT_ROOT / "infra" / name).read_text())
    script = ["bash", str(tmp_path / "infra" / "make-secrets.sh")]
    first = subprocess.run(script, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    secrets_dir = tmp_path / "infra" / "secrets"
    made = {p.name: p.read_text() for p in secrets_dir.iterdir()}
    # Every secret the compose file mounts exists now, but Kafka's users (continuum providers credentials).
    wanted = {Path(s["file"]).name for s in compose.load_raw()["secrets"].values()}
    assert wanted - set(made) == {"kafka-users", "kafka-pipeline-password", "kafka-monitor-password"}
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    env = compose.read_env_file(tmp_path / ".env")
    assert len(env["KAFKA_CLUSTER_ID"]) == 22  # KRaft's cluster id: a UUID in URL-safe base64
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            secrets_dir / "kafka-tls-ca.pem",
            secrets_dir / "kafka-tls-keystore.pem",
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert "BEGIN PRIVATE KEY" in made["kafka-tls-keystore.pem"]  # PKCS#8, as Kafka's PEM keystore wants
    again = subprocess.run(script, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""  # nothing remade
    assert {p.name: p.read_text() for p in secrets_dir.iterdir()} == made
