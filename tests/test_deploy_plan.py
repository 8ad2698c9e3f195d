"""The Kafka access plan as data, and the script it renders run by bash against stand-in Kafka tools.

The embedded broker has no ACLs, so this is where "provider X writes only its own topic, the pipeline
alone reads them" is checked: on the plan generated from the real provider directory, then on the
exact commands the compose init service gives Kafka's CLI tools.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.directory import load_directory
from common.names import DEAD_LETTER_TOPIC, provider_topic
from common.settings import PROJECT_ROOT, Settings
from continuum.deploy.credentials import ensure_passwords, read_passwords
from continuum.deploy.plan import ADMIN_USER, Acl, PlanError, network_plan, provider_plan
from continuum.deploy.render import render_shell

SETTINGS = Settings()
PROVIDERS = list(load_directory(SETTINGS.provider_directory))
PIPELINE = SETTINGS.kafka_pipeline_username
MONITOR = SETTINGS.kafka_monitor_username


def allowed(acls: tuple[Acl, ...], user: str, operation: str, topic: str) -> bool:
    """Whether the plan's ACLs let `user` do `operation` on `topic` (Kafka's literal/prefixed match)."""
    return any(
        a.user == user
        and a.operation == operation
        and a.resource == "topic"
        and (topic == a.name if a.pattern == "literal" else topic.startswith(a.name))
        for a in acls
    )


def test_every_provider_writes_its_own_topic_and_no_other():
    acls = network_plan(SETTINGS).acls
    for writer in PROVIDERS:
        for owner in PROVIDERS:
            assert allowed(acls, writer, "Write", provider_topic(owner)) == (writer == owner), (writer, owner)
        assert not allowed(acls, writer, "Write", DEAD_LETTER_TOPIC)


def test_no_provider_reads_any_topic_and_the_pipeline_reads_them_all():
    acls = network_plan(SETTINGS).acls
    for provider in PROVIDERS:
        for owner in PROVIDERS:
            assert not allowed(acls, provider, "Read", provider_topic(owner))
        assert not allowed(acls, provider, "Read", DEAD_LETTER_TOPIC)
        assert allowed(acls, PIPELINE, "Read", provider_topic(provider))
        assert not allowed(acls, PIPELINE, "Write", provider_topic(provider))
    assert allowed(acls, PIPELINE, "Write", DEAD_LETTER_TOPIC)
    assert {a.operation for a in acls} == {"Read", "Write", "Describe"}  # nothing broader (no All)
    assert {a.resource for a in acls} == {"topic"}  # no cluster or group rights to anyone


def test_the_monitor_sees_every_topic_and_reads_or_writes_none():
    acls = network_plan(SETTINGS).acls
    for topic in [DEAD_LETTER_TOPIC, *map(provider_topic, PROVIDERS)]:
        assert allowed(acls, MONITOR, "Describe", topic)
        assert not allowed(acls, MONITOR, "Read", topic) and not allowed(acls, MONITOR, "Write", topic)


def test_each_provider_reads_its_own_feedback_and_no_one_elses():
    acls = network_plan(SETTINGS).acls
    for reader in PROVIDERS:
        for owner in PROVIDERS:
            feedback = f"providers.{owner}.feedback"  # spelled out: the contract's name, not the code's
            assert allowed(acls, reader, "Read", feedback) == (reader == owner), (reader, owner)
            assert allowed(acls, PIPELINE, "Write", feedback)
            assert not allowed(acls, MONITOR, "Read", feedback)


def test_the_plan_has_two_topics_and_one_user_per_provider_from_the_directory():
    plan = network_plan(SETTINGS)
    per_provider = [[provider_topic(p), f"providers.{p}.feedback"] for p in PROVIDERS]
    assert [t.name for t in plan.topics] == [DEAD_LETTER_TOPIC] + sum(per_provider, [])
    assert list(plan.users) == [PIPELINE, MONITOR, *PROVIDERS]
    assert all(t.partitions == SETTINGS.topic_partitions for t in plan.topics)


def test_a_provider_cannot_take_a_reserved_principal():
    for reserved in (ADMIN_USER, PIPELINE, MONITOR):
        with pytest.raises(PlanError):
            provider_plan(reserved, SETTINGS)


@pytest.fixture
def fake_kafka_bin(tmp_path: Path) -> Path:
    """Stand-ins for kafka-topics.sh, kafka-configs.sh and kafka-acls.sh that record their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kafka-topics.sh", "kafka-configs.sh", "kafka-acls.sh"):
        script = bin_dir / tool
        script.write_text(f'#!/usr/bin/env bash\nprintf "{tool}\\t%s\\n" "$*" >> "$CALLS"\n')
        script.chmod(0o755)
    return bin_dir


def run_script(script: str, tmp_path: Path, bin_dir: Path, passwords: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KAFKA_BIN": str(bin_dir),
        "KAFKA_BOOTSTRAP": "kafka:9092",
        "KAFKA_COMMAND_CONFIG": "/tmp/admin.properties",
        "KAFKA_USER_PASSWORDS": str(passwords),
        "CALLS": str(tmp_path / "calls"),
    }
    return subprocess.run(["bash", "-s"], input=script, env=env, capture_output=True, text=True)


def test_the_rendered_script_applies_the_plan_with_each_users_password(tmp_path: Path, fake_kafka_bin: Path):
    plan = network_plan(SETTINGS)
    passwords = tmp_path / "secrets" / "kafka-users"
    ensure_passwords(passwords, [ADMIN_USER, *plan.users])
    script = render_shell(plan)
    assert not any(p in script for p in read_passwords(passwords).values())  # the script holds no secret

    done = run_script(script, tmp_path, fake_kafka_bin, passwords)
    assert done.returncode == 0, done.stderr
    calls = [line.split("\t") for line in (tmp_path / "calls").read_text().splitlines()]
    topics = [args for tool, args in calls if tool == "kafka-topics.sh"]
    users = [args for tool, args in calls if tool == "kafka-configs.sh"]
    acls = [args for tool, args in calls if tool == "kafka-acls.sh"]
    assert len(topics) == len(plan.topics) and len(users) == len(plan.users)
    gvi = next(args for args in users if "--entity-name okc-gvi " in args)
    assert f"SCRAM-SHA-512=[iterations=8192,password={read_passwords(passwords)['okc-gvi']}]" in gvi
    assert all("--bootstrap-server kafka:9092 --command-config /tmp/admin.properties" in a for _, a in calls)
    assert (
        "--add --allow-principal User:okc-gvi --operation Write --operation Describe "
        "--topic providers.okc-gvi. --resource-pattern-type prefixed"
    ) in [a.split("/tmp/admin.properties ", 1)[1] for a in acls]


def test_the_script_stops_when_a_user_has_no_password(tmp_path: Path, fake_kafka_bin: Path):
    passwords = tmp_path / "kafka-users"
    passwords.write_text("okc-gvi:short\n")  # too short to be one of ours
    done = run_script(render_shell(provider_plan("okc-gvi", SETTINGS)), tmp_path, fake_kafka_bin, passwords)
    assert done.returncode != 0
    assert "no usable password for Kafka user okc-gvi" in done.stderr
    assert "kafka-configs.sh" not in (tmp_path / "calls").read_text()


def continuum(*args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("continuum")), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)


def test_providers_credentials_then_add_and_rotate(tmp_path: Path):
    secrets_dir = tmp_path / "secrets"
    done = continuum("providers", "credentials", "--secrets-dir", str(secrets_dir))
    assert done.returncode == 0, done.stderr
    before = read_passwords(secrets_dir / "kafka-users")
    assert set(before) == {ADMIN_USER, PIPELINE, MONITOR, *PROVIDERS}
    assert (secrets_dir / "kafka-pipeline-password").read_text().strip() == before[PIPELINE]
    assert (secrets_dir / "kafka-monitor-password").read_text().strip() == before[MONITOR]
    assert (secrets_dir.stat().st_mode & 0o777) == 0o700

    added = continuum("providers", "add", "okc-gvi", "--secrets-dir", str(secrets_dir))
    assert added.returncode == 0 and read_passwords(secrets_dir / "kafka-users") == before
    assert added.stdout == render_shell(provider_plan("okc-gvi", SETTINGS), command="providers add okc-gvi")

    rotated = continuum("providers", "add", "okc-gvi", "--rotate", "--secrets-dir", str(secrets_dir))
    after = read_passwords(secrets_dir / "kafka-users")
    assert rotated.returncode == 0 and after["okc-gvi"] != before["okc-gvi"]
    assert {u: p for u, p in after.items() if u != "okc-gvi"} == {
        u: p for u, p in before.items() if u != "okc-gvi"
    }


def test_providers_add_refuses_a_provider_outside_the_directory(tmp_path: Path):
    done = continuum("providers", "add", "not-in-the-directory", "--secrets-dir", str(tmp_path))
    assert done.returncode == 2 and "not in the provider directory" in done.stderr
    assert not (tmp_path / "kafka-users").exists()


def test_providers_plan_prints_the_network_plan():
    done = continuum("providers", "plan")
    assert done.returncode == 0 and done.stdout == render_shell(network_plan(SETTINGS))
