"""Freshness: seconds from a provider's send to the row in the published provider view, with the lander
running as a service and Airflow's scheduler running the DAG on the lander's asset events.

    PYTHONPATH=. .venv/bin/python bench/freshness.py [--minutes 10] [--rate 200] [--out results.json]

In a fresh CONTINUUM_HOME: the embedded broker (`continuum broker start`), Airflow (`continuum airflow`:
api-server, scheduler, dag-processor, triggerer), and the lander service (`continuum land`) told to post
an asset event to that api-server after committing batches (CONTINUUM_LAND_NOTIFY_AIRFLOW_URL). Nobody
runs `continuum run`. Then providers (ProviderClient, one per provider) send `referral.requested` events
at a steady rate for N minutes, each with a fresh referral id whose send time is recorded, and the
published warehouse (`published/warehouse.duckdb`, opened read-only, as the web app does) is polled for
the referral ids in `provider_views.provider_referral_handoffs`. Each event's freshness: the first poll
that sees its row minus its send time (the poll interval bounds the error). Every event is measured;
the first `--warmup` seconds of sends (the first DAG run builds an empty warehouse) are reported apart.

At the end: p50/p95/max of the measured events, how many never showed, the DAG runs (count, how they were
triggered, their durations) and the mean duration of each task, read from Airflow's metadata database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONTINUUM = [sys.executable, "-m", "continuum.cli"]

from bench.pipeline import free_port  # noqa: E402


def wait_for(what: str, check, timeout_s: float, processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode} while waiting for {what}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout_s:.0f}s waiting for {what}")


def api_up(base: str) -> bool:
    import httpx

    with httpx.Client(timeout=3) as client:
        return client.get(f"{base}/api/v2/monitor/health").status_code == 200


def referring_pairs(settings, count: int) -> list[tuple[str, str]]:
    """`count` providers, each referring to the next one in the directory."""
    from common.directory import load_directory

    ids = sorted(load_directory(settings.provider_directory).keys())
    return [(ids[i], ids[(i + 1) % len(ids)]) for i in range(min(count, len(ids)))]


class Sender(threading.Thread):
    """Sends referral.requested at `rate` per second, round-robin over providers, recording send times."""

    def __init__(self, settings, pairs: list[tuple[str, str]], rate: float, seconds: float) -> None:
        super().__init__(name="sender", daemon=True)
        self.settings, self.pairs, self.rate, self.seconds = settings, pairs, rate, seconds
        self.sent: dict[str, float] = {}  # referral id -> wall-clock send time
        self.lock = threading.Lock()
        self.started = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._send_all()
        except BaseException as exc:  # reported by main
            self.error = exc

    def _send_all(self) -> None:
        from streams.producer import ProviderClient

        clients = {p: ProviderClient(p, self.settings) for p, _ in self.pairs}
        total = int(self.rate * self.seconds)
        self.started = time.monotonic()
        for i in range(total):
            due = self.started + i / self.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sender, receiver = self.pairs[i % len(self.pairs)]
            referral_id = str(uuid.uuid4())
            data = {
                "referral_id": referral_id,
                "to_provider_id": receiver,
                "service_type": "case_management",
                "priority": "routine",
                "contact_prohibited": False,
            }
            clients[sender].send("referral.requested", subject=uuid.uuid4().hex + uuid.uuid4().hex, data=data)
            with self.lock:
                self.sent[referral_id] = time.time()
        for client in clients.values():
            client.flush()
            client.close()


def published_ids(path: Path) -> set[str]:
    import duckdb

    if not path.exists():
        return set()
    with duckdb.connect(str(path), read_only=True) as db:
        try:
            rows = db.execute(
                "select referral_id from provider_views.provider_referral_handoffs where direction = 'sent'"
            ).fetchall()
        except duckdb.CatalogException:
            return set()
    return {str(r[0]) for r in rows}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(latencies: list[float]) -> dict:
    if not latencies:
        return {"events": 0}
    return {
        "events": len(latencies),
        "p50_s": round(percentile(latencies, 50), 1),
        "p95_s": round(percentile(latencies, 95), 1),
        "max_s": round(max(latencies), 1),
        "mean_s": round(statistics.fmean(latencies), 1),
    }


def dag_runs(airflow_db: Path) -> dict:
    """The DAG runs and mean task durations, read from the metadata database after Airflow stopped."""
    with sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True) as db:
        runs = db.execute(
            "select run_type, state, (julianday(end_date) - julianday(start_date)) * 86400, "
            "(julianday(start_date) - julianday(queued_at)) * 86400 "
            "from dag_run where dag_id = 'continuum_pipeline' order by start_date"
        ).fetchall()
        tasks = db.execute(
            "select task_id, count(*), avg((julianday(end_date) - julianday(start_date)) * 86400), "
            "avg((julianday(start_date) - julianday(queued_dttm)) * 86400) "
            "from task_instance where dag_id = 'continuum_pipeline' and end_date is not null "
            "group by task_id order by min(start_date)"
        ).fetchall()
    return runs_summary(runs, tasks)


def dag_runs_from(url: str) -> dict:
    import sqlalchemy

    with sqlalchemy.create_engine(url).connect() as db:
        runs = db.execute(
            sqlalchemy.text(
                "select run_type, state, extract(epoch from end_date - start_date), "
                "extract(epoch from start_date - queued_at) "
                "from dag_run where dag_id = 'continuum_pipeline' order by start_date"
            )
        ).fetchall()
        tasks = db.execute(
            sqlalchemy.text(
                "select task_id, count(*), avg(extract(epoch from end_date - start_date)), "
                "avg(extract(epoch from start_date - queued_dttm)) "
                "from task_instance where dag_id = 'continuum_pipeline' and end_date is not null "
                "group by task_id order by min(start_date)"
            )
        ).fetchall()
    return runs_summary(runs, tasks)


def runs_summary(runs: list, tasks: list) -> dict:
    durations = [float(r[2]) for r in runs if r[2] is not None]
    return {
        "runs": len(runs),
        "by_type": {t: sum(1 for r in runs if r[0] == t) for t in {r[0] for r in runs}},
        "states": {s: sum(1 for r in runs if r[1] == s) for s in {r[1] for r in runs}},
        "run_seconds": summary(durations[1:]) if len(durations) > 1 else summary(durations),
        "first_run_seconds": round(durations[0], 1) if durations else None,
        "tasks": {
            t: {"instances": n, "mean_s": round(float(d or 0), 1), "mean_wait_s": round(float(w or 0), 1)}
            for t, n, d, w in tasks
        },
    }


def log_times(path: Path) -> dict[str, float]:
    """When a task attempt started, finished parsing the DAG file, finished its work, and ended (epoch s),
    from its Airflow log (JSON lines)."""
    marks: dict[str, float] = {}
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError, KeyError):
            record = json.loads(line)
            at = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
            event = str(record["event"])
            marks.setdefault("start", at)
            if event.startswith("Worker startup parse complete"):
                marks["parsed"] = at
            elif event.startswith("::group::Post Execute"):
                marks.setdefault("worked", at)
            marks["end"] = at
    return marks


def task_phases(logs: Path, skip_first_run: bool = True) -> dict:
    """Per task, the mean seconds of Airflow's start-up (to the parsed DAG file), of the task's own work
    (its imports included), and of Airflow's wrap-up, over every attempt of every run (but the first)."""
    runs = sorted(logs.glob("dag_id=continuum_pipeline/run_id=*"), key=lambda p: p.stat().st_mtime)
    phases: dict[str, list[tuple[float, float, float]]] = {}
    for run in runs[1:] if skip_first_run and len(runs) > 1 else runs:
        for attempt in run.rglob("attempt=*.log"):
            marks = log_times(attempt)
            if {"start", "parsed", "worked", "end"} <= marks.keys():
                task = attempt.relative_to(run).parts[0].removeprefix("task_id=")
                phases.setdefault(task, []).append(
                    (
                        marks["parsed"] - marks["start"],
                        marks["worked"] - marks["parsed"],
                        marks["end"] - marks["worked"],
                    )
                )
    return {
        task: {
            "attempts": len(rows),
            "airflow_start_s": round(statistics.fmean(r[0] for r in rows), 1),
            "work_s": round(statistics.fmean(r[1] for r in rows), 1),
            "airflow_end_s": round(statistics.fmean(r[2] for r in rows), 1),
        }
        for task, rows in phases.items()
    }


@contextlib.contextmanager
def postgres_cluster(workdir: Path):
    """A throwaway PostgreSQL (Debian's, as tests/test_deploy_airflow.py starts it) for Airflow's metadata
    database; yields its SQLAlchemy URL. As root the server runs as the `postgres` account."""
    import glob
    import shutil

    bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="continuum-freshness-pg-"))
    data, run, port = root / "data", root / "run", free_port()
    (root / "pw").write_text("bench\n")
    run.mkdir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        for path in (root, root / "pw", run):
            shutil.chown(path, "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={root / 'pw'}"]
    subprocess.run([*as_postgres, *initdb, "--auth=scram-sha-256"], check=True, capture_output=True)
    options = f"-p {port} -k {run} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-o", options, "-w", "-l", str(root / "log"), "start"], check=True)
    try:
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"]
        subprocess.run(createdb, check=True, env={**os.environ, "PGPASSWORD": "bench"})
        yield f"postgresql+psycopg2://airflow:bench@127.0.0.1:{port}/airflow"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def start(name: str, args: list[str], env: dict[str, str], workdir: Path) -> subprocess.Popen:
    log = open(workdir / f"{name}.log", "w")  # noqa: SIM115 (kept open for the process's life)
    return subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever of it is left (the leader may exit first)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
        time.sleep(2)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def bench(args: argparse.Namespace, workdir: Path) -> dict:
    from common.settings import Settings

    home, port = workdir / "home", free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CONTINUUM_HOME": str(home),
        "CONTINUUM_BROKER_PORT": str(free_port()),
        "CONTINUUM_LAND_NOTIFY_AIRFLOW_URL": f"http://127.0.0.1:{port}",
        "CONTINUUM_LAND_NOTIFY_MIN_SECONDS": str(args.notify_seconds),
        "CONTINUUM_LAND_BATCH_SECONDS": str(args.batch_seconds),
    }
    env.pop("CONTINUUM_KAFKA_BOOTSTRAP", None)
    if args.database_url:
        env["CONTINUUM_AIRFLOW_DATABASE_URL"] = args.database_url
    settings = Settings(
        home=home, broker_port=int(env["CONTINUUM_BROKER_PORT"]), land_notify_airflow_url=None
    )
    subprocess.run([*CONTINUUM, "broker", "start"], env=env, cwd=ROOT, check=True, capture_output=True)
    processes: dict[str, subprocess.Popen] = {}
    try:
        # The lander first: the DAG's first (clock) run must find it holding the landing lock.
        processes["lander"] = start("lander", [*CONTINUUM, "land"], env, workdir)
        wait_for("the lander service", lambda: (home / "landing" / ".lander.lock").exists(), 60, processes)
        processes["airflow"] = start("airflow", [*CONTINUUM, "airflow", "--port", str(port)], env, workdir)
        base = f"http://127.0.0.1:{port}"
        wait_for("Airflow's api-server", lambda: api_up(base), 300, processes)
        sender = Sender(settings, referring_pairs(settings, args.providers), args.rate, args.minutes * 60)
        sender.start()
        seen: dict[str, float] = {}
        published = home / "published" / "warehouse.duckdb"
        deadline = None
        while True:
            time.sleep(args.poll_seconds)
            for name, process in processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with {process.returncode}: see {workdir / name}.log")
            now = time.time()
            with contextlib.suppress(Exception):  # a publish in progress: the next poll sees it
                for referral_id in published_ids(published) - seen.keys():
                    seen[referral_id] = now
            if sender.error:
                raise SystemExit(f"the sender failed: {sender.error!r}")
            if not sender.is_alive():
                deadline = deadline or time.monotonic() + args.drain_seconds
                with sender.lock:
                    if seen.keys() >= sender.sent.keys() or time.monotonic() > deadline:
                        break
            with sender.lock:
                sent_n = len(sender.sent)
            print(f"{datetime.now(UTC):%H:%M:%S} sent {sent_n} published {len(seen)}", flush=True)
    finally:
        for name in ("lander", "airflow"):
            if name in processes:
                stop(processes[name])
        subprocess.run([*CONTINUUM, "broker", "stop"], env=env, cwd=ROOT, capture_output=True)
    first_send = min(sender.sent.values())
    warm = [seen[i] - t for i, t in sender.sent.items() if i in seen and t - first_send >= args.warmup]
    cold = [seen[i] - t for i, t in sender.sent.items() if i in seen and t - first_send < args.warmup]
    return {
        "minutes": args.minutes,
        "rate_per_s": args.rate,
        "achieved_rate_per_s": round(len(sender.sent) / (max(sender.sent.values()) - first_send), 1),
        "providers": args.providers,
        "poll_seconds": args.poll_seconds,
        "sent": len(sender.sent),
        "never_published": len(sender.sent.keys() - seen.keys()),
        "freshness": summary(warm),
        "warmup": {"seconds": args.warmup, **summary(cold)},
        "metadata_database": "postgresql" if args.database_url else "sqlite",
        "dag": dag_runs_from(args.database_url)
        if args.database_url
        else dag_runs(home / "airflow" / "airflow.db"),
        "task_phases": task_phases(home / "airflow" / "logs"),
        "load_average_at_end": os.getloadavg(),
        "workdir": str(workdir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long providers send (default 10)")
    parser.add_argument("--rate", type=float, default=200, help="events per second (default 200)")
    parser.add_argument("--providers", type=int, default=4, help="providers sending (default 4)")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of sends reported apart")
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--drain-seconds", type=float, default=300, help="wait after the last send")
    parser.add_argument("--notify-seconds", type=float, default=5.0, help="CONTINUUM_LAND_NOTIFY_MIN_SECONDS")
    parser.add_argument("--batch-seconds", type=float, default=5.0, help="CONTINUUM_LAND_BATCH_SECONDS")
    parser.add_argument(
        "--postgres", action="store_true", help="Airflow's metadata DB in a throwaway PostgreSQL, not SQLite"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="continuum-freshness-"))
    args.database_url = None
    if args.postgres:
        with postgres_cluster(workdir) as args.database_url:
            result = bench(args, workdir)
    else:
        result = bench(args, workdir)
    print(json.dumps(result, indent=2), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    if not args.keep:
        subprocess.run(["rm", "-rf", str(workdir / "home")], check=False)


if __name__ == "__main__":
    main()
