"""`make demo`: the main job end to end on the embedded broker, as the commands an operator would type.

Each step is printed before it runs, so the demo doubles as a walkthrough of the CLI.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from common.settings import get_settings


def steps(report_dir: str) -> list[tuple[str, list[str]]]:
    return [
        ("Start the embedded Kafka-compatible broker and create the provider topics", ["broker", "start"]),
        ("Simulate the Oklahoma provider network into Kafka", ["simulate", "--seed", "7"]),
        (
            "Run the pipeline once through Airflow: land, validate (GX), load, dbt build, publish",
            ["run"],
        ),
        ("Show what was landed, per partition, and the dead letters by reason", ["status"]),
        ("Write the funder report as a static site", ["report", "funders", "--out", report_dir]),
    ]


def main() -> int:
    settings = get_settings()
    report_dir = settings.state_dir / "report"
    for number, (title, args) in enumerate(steps(str(report_dir)), start=1):
        print(f"\n== {number}. {title}\n$ continuum {shlex.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "continuum.cli", *args])
        if result.returncode != 0:
            print(f"\nstep {number} failed (exit {result.returncode}); see the output above", file=sys.stderr)
            return result.returncode
    print(
        f"""
== Done. What to open next
- The funder report (no server needed): {report_dir / "index.html"}
- The web app:      .venv/bin/continuum serve   then http://{settings.web_host}:{settings.web_port}/
                    every page asks for a credential of its role (docs/access.md), e.g.
                    .venv/bin/continuum access grant --role funder --name "demo funder"
                    .venv/bin/continuum access grant --role operator --name "demo operator"   (/ops)
                    .venv/bin/continuum access grant --role provider --provider okc-reentry --name "demo"
- What a provider was refused: .venv/bin/continuum feedback --provider okc-reentry
- Airflow's UI:     .venv/bin/continuum airflow
- The broker keeps running; stop it with .venv/bin/continuum broker stop"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
