"""One incremental build and publish, replayed on a copy of a kept home, as often as a comparison needs.

    # a home kept by `bench/pipeline.py --keep`, and more events sent to the same broker:
    CONTINUUM_HOME=$KEPT CONTINUUM_KAFKA_BOOTSTRAP=$BROKER continuum simulate --participants 4000 --seed 51
    CONTINUUM_KAFKA_BOOTSTRAP=$BROKER PYTHONPATH=. python bench/replay_build.py prepare $KEPT $PREPARED
    PYTHONPATH=$CHECKOUT python bench/replay_build.py build $PREPARED $WORK --name try1 [--out results.jsonl]

`prepare` copies the kept home and lands, validates and loads the new events there: the warehouse as a
run leaves it just before dbt. `build` copies that state again (the landing zone and Airflow's files
left out), sets the build record's project fingerprint to the checkout's (so a change of the dbt project
under test does not plan a full build), reads the two DuckDB files once so that both tries start with
them in the page cache, and times the build and the publish, as `continuum run`'s tasks call them.
dbt parses the project in full in each try (the home's path is in the profile): about 5 s more than in a
run, the same in every try. Each try's run_results.json is kept beside --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from common.settings import Settings

LEFT_OUT = ("landing", "airflow")  # not read by the build or the publish; the landing zone is 750 MB at 10 M


def prepare(kept: Path, prepared: Path) -> None:
    shutil.rmtree(prepared, ignore_errors=True)
    subprocess.run(["cp", "-a", str(kept), str(prepared)], check=True)
    settings = Settings(home=prepared)
    from continuum.pipeline import tasks

    tasks.land_new_events(settings)
    verdicts = [tasks.validate_group(settings, group) for group in tasks.discover_groups(settings)]
    print(
        "loaded",
        tasks.load_passed(settings, verdicts),
        "quarantined",
        tasks.quarantine_failed(settings, verdicts),
    )


def build(prepared: Path, work: Path, name: str, out: Path | None) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for child in prepared.iterdir():
        if child.name not in LEFT_OUT:
            subprocess.run(["cp", "-a", str(child), str(work / child.name)], check=True)
    subprocess.run(["sync"], check=True)
    settings = Settings(home=work)
    for path in (settings.warehouse_path, settings.published_warehouse_path):
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    from continuum.pipeline import dbt, tasks

    last = dbt.read_build_state(settings)
    dbt.write_build_state(settings, replace(last, project=dbt.project_fingerprint()))
    started = time.monotonic()
    tasks.build_warehouse(settings, None)
    built = time.monotonic()
    tasks.publish_all(settings)
    result = {
        "name": name,
        "build_s": round(built - started, 1),
        "publish_s": round(time.monotonic() - built, 1),
    }
    print(json.dumps(result))
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(result) + "\n")
        shutil.copy(dbt.run_results_path(settings), out.with_name(f"run_results-{name}.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="copy a kept home and land, validate and load the new events there")
    p.add_argument("kept", type=Path)
    p.add_argument("prepared", type=Path)
    b = sub.add_parser("build", help="copy the prepared home and time its build and publish")
    b.add_argument("prepared", type=Path)
    b.add_argument("work", type=Path)
    b.add_argument("--name", default="try")
    b.add_argument("--out", type=Path, help="append the timings here (JSON lines)")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.kept, args.prepared)
    else:
        build(args.prepared, args.work, args.name, args.out)


if __name__ == "__main__":
    main()
