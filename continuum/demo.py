"""`make demo`: the main job end to end on the embedded broker, as the commands an operator would type.

Each step is printed before it runs, so the demo doubles as a walkthrough of the CLI.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from common.settings import Settings, get_settings
from infra import embedded_broker
from streams.landing.zone import LandingZone


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


def left_by_a_stopped_broker(settings: Settings) -> str | None:
    """Why this home cannot run the demo again as it is (None: it can): it holds batches landed from an
    embedded broker that is not running any more. That broker kept nothing (memory storage), so the one
    step 1 starts has new topics, whose offsets start again at 0, and landing refuses them as a lost log
    (docs/landing.md), as it must for a real broker; the demo says so before it starts."""
    if not settings.uses_embedded_broker or embedded_broker.status(settings).running:
        return None
    if not LandingZone.for_settings(settings).committed_batches():
        return None
    return (
        f"{settings.state_dir} holds batches landed from an embedded broker that has stopped since; it "
        "kept nothing, so a new one's topics would start again at offset 0, and landing refuses offsets "
        f"that go backwards. Remove that directory (rm -rf {settings.state_dir}) or set CONTINUUM_HOME to "
        "a new one, then run `make demo` again."
    )


def main(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    stale = left_by_a_stopped_broker(settings)
    if stale:
        print(stale, file=sys.stderr)
        return 1
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
