"""The whole pipeline at N participants: broker, simulate, `continuum run` (land, validate, load, dbt,
publish), then a run after about 1 % new events, a run with nothing new, and one more once an answer is
due (the next instant at which an answer can change, as the last build recorded it, has passed).

    PYTHONPATH=. .venv/bin/python bench/pipeline.py --participants 100000 [--out bench-results.json]

Each step is a `continuum` command in a fresh CONTINUUM_HOME with an embedded broker of its own, exactly
as an operator would run it. For each `continuum run`: wall time, what `continuum run` reports per task,
events landed per second of the run, and the peak RSS of the largest process it started (the kernel's
`ru_maxrss` of waited-for children: one number, not a sum). At the end: the landing zone's Parquet, the
warehouse and the published warehouse, in bytes.

The "1 %" run adds a second, smaller simulated network (participants N/100, another seed) to the same
topics: new people's events, as a day of a real network adds. `--runs-1pct K` makes K of them, one after
the other (each seed one more), and reports each one's share of the full run and their median: one run's
share moves with the machine's moment by more than a second either way.

Simulating 10 M events into the broker takes longer than the runs themselves; `--broker HOST:PORT` uses a
broker that already holds `continuum simulate --participants N --seed S` (same N and seed) and skips that step
(the 1 % network is still sent by the bench). Peak RSS is per command: each runs under a small wrapper that
reports the largest `ru_maxrss` among the processes it waited for (dbt, the lander workers, Airflow's).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTINUUM = [sys.executable, "-m", "continuum.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Runs a command and prints, last, the largest ru_maxrss (KiB) of the processes it waited for: the peak
#: of one command's process tree, not of the whole bench (RUSAGE_CHILDREN of the bench only grows).
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('peak-rss-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); "
    "sys.exit(code)"
)


def timed(env: dict[str, str], *args: str, log: Path) -> dict:
    """Run one `continuum` command; its output goes to `log`; its wall time, peak RSS and (for `run`) the
    seconds of each task as `continuum run` printed them."""
    started = time.monotonic()
    start_of_output = log.stat().st_size if log.exists() else 0
    with open(log, "a") as out:
        out.write(f"\n$ continuum {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_WRAPPER, *CONTINUUM, *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seconds = time.monotonic() - started
    with open(log) as f:
        f.seek(start_of_output)
        output = f.read().splitlines()
    if done.returncode != 0:
        raise SystemExit(
            f"`continuum {' '.join(args)}` exited {done.returncode}; see {log}:\n" + "\n".join(output[-40:])
        )
    peak_kib = max((int(line.split()[1]) for line in output if line.startswith("peak-rss-kib ")), default=0)
    result = {"command": " ".join(args), "seconds": round(seconds, 1), "peak_rss_mb": round(peak_kib / 1024)}
    if args[0] == "run":
        result["tasks"] = task_seconds(output)
    return result


def task_seconds(output: list[str]) -> dict[str, float]:
    """Wall seconds per task from `continuum run`'s table ("task  instances  wall s  busy s  state")."""
    seconds, in_table = {}, False
    for line in output:
        if line.startswith("task ") and "wall s" in line:
            in_table = True
        elif in_table and line.strip():
            fields = line.split()
            if len(fields) < 5 or not fields[1].isdigit():
                break
            seconds[fields[0]] = float(fields[2])
        elif in_table:
            break
    return seconds


def tree_bytes(path: Path, suffix: str = "") -> int:
    return sum(p.stat().st_size for p in path.rglob(f"*{suffix}") if p.is_file()) if path.exists() else 0


def file_bytes(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def landed_events(home: Path) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.read_metadata(p).num_rows for p in (home / "landing").rglob("*.parquet") if "events" in p.name
    )


def wait_for_next_change(home: Path, at_most_s: float = 900) -> float:
    """Sleep until the instant the last build recorded as its next change (at most `at_most_s`, a
    schedule's interval) has passed; returns the seconds slept."""
    record = json.loads((home / "dbt" / "last_build.json").read_text())
    next_change = datetime.fromisoformat(record["next_change"])
    wait = min(max((next_change - datetime.now(UTC)).total_seconds() + 1, 0), at_most_s)
    time.sleep(wait)
    return round(wait, 1)


def bench(
    participants: int,
    seed: int,
    workdir: Path,
    broker: str | None = None,
    more_seed: int | None = None,
    runs_1pct: int = 1,
) -> dict:
    home = workdir / "home"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONTINUUM_HOME": str(home)}
    env.pop("CONTINUUM_KAFKA_BOOTSTRAP", None)
    log = workdir / "pipeline.log"
    steps = {}
    if broker:  # holds the simulated network already (see the module's docstring)
        env["CONTINUUM_KAFKA_BOOTSTRAP"] = broker
    else:
        env["CONTINUUM_BROKER_PORT"] = str(free_port())
        steps["broker"] = timed(env, "broker", "start", log=log)
    try:
        if not broker:
            steps["simulate"] = timed(
                env, "simulate", "--participants", str(participants), "--seed", str(seed), log=log
            )
        steps["run_full"] = timed(env, "run", log=log)
        steps["run_full"]["events"] = landed_events(home)
        extra = max(1, participants // 100)
        for i in range(runs_1pct):  # each on a network 1 % larger than the last one's: if anything, slower
            suffix = f"_{i + 1}" if i else ""
            before = landed_events(home)
            steps[f"simulate_1pct{suffix}"] = timed(
                env,
                "simulate",
                "--participants",
                str(extra),
                "--seed",
                str((more_seed or seed + 1) + i),
                log=log,
            )
            steps[f"run_1pct{suffix}"] = timed(env, "run", log=log)
            steps[f"run_1pct{suffix}"]["events"] = landed_events(home) - before
        steps["run_nothing_new"] = timed(env, "run", log=log)
        # With nothing new the build is skipped until an answer can change (docs/pipeline.md): the run
        # after that instant, as a 15-minute schedule would make it, rebuilds what depends on as_of.
        steps["waited_for_next_change_s"] = wait_for_next_change(home)
        steps["run_nothing_new_answer_due"] = timed(env, "run", log=log)
    finally:
        if not broker:
            subprocess.run([*CONTINUUM, "broker", "stop"], env=env, cwd=ROOT, capture_output=True)
    full = steps["run_full"]
    incremental = [v["seconds"] for k, v in steps.items() if k.startswith("run_1pct")]
    return {
        "participants": participants,
        "steps": steps,
        "events_per_second_full_run": round(full["events"] / full["seconds"]),
        "incremental_share_of_full": round(steps["run_1pct"]["seconds"] / full["seconds"], 3),
        # with --runs-1pct K: every 1 % run's share, and their median (one run's share moves with the
        # machine's moment by more than a second either way)
        "incremental_shares_of_full": [round(s / full["seconds"], 3) for s in incremental],
        "incremental_share_median": round(statistics.median(incremental) / full["seconds"], 3),
        "peak_rss_mb_of_runs": max(steps[k]["peak_rss_mb"] for k in steps if k.startswith("run_")),
        "landing_parquet_bytes": tree_bytes(home / "landing", ".parquet"),
        "warehouse_bytes": file_bytes(home / "warehouse.duckdb"),
        "published_bytes": file_bytes(home / "published" / "warehouse.duckdb"),
        "log": str(log),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[2000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (its path is printed)")
    parser.add_argument(
        "--broker",
        metavar="HOST:PORT",
        help="a broker that holds `simulate --participants N --seed S` already (one N only): skip simulating",
    )
    parser.add_argument(
        "--more-seed",
        type=int,
        help="seed of the 1 %% network (default: --seed + 1; another if the broker holds that one already)",
    )
    parser.add_argument(
        "--runs-1pct",
        type=int,
        default=1,
        help="how many 1 %% runs, one after the other, each after 1 %% more (seeds --more-seed, +1, ...)",
    )
    args = parser.parse_args()
    if args.broker and len(args.participants) != 1:
        parser.error("--broker holds one simulated network: give one --participants")
    results = []
    for n in args.participants:
        workdir = Path(tempfile.mkdtemp(prefix=f"continuum-bench-{n}-"))
        result = bench(n, args.seed, workdir, args.broker, args.more_seed, args.runs_1pct)
        results.append(result)
        print(json.dumps(result, indent=2), flush=True)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(workdir / "home")], check=False)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
