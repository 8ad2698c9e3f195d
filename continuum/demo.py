"""`make demo`: the main job end to end on the embedded broker, as the commands an operator would type.

Each step is printed before it runs, so the demo doubles as a walkthrough of the CLI.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

STEPS = [
    ("Start the embedded Kafka-compatible broker and create the provider topics", ["broker", "start"]),
    ("Simulate the Oklahoma provider network into Kafka", ["simulate", "--seed", "7"]),
]


def main() -> int:
    for number, (title, args) in enumerate(STEPS, start=1):
        print(f"\n== {number}. {title}\n$ continuum {shlex.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "continuum.cli", *args])
        if result.returncode != 0:
            print(f"\nstep {number} failed (exit {result.returncode}); see the output above", file=sys.stderr)
            return result.returncode
    print("\nThe broker keeps running; stop it with `.venv/bin/continuum broker stop`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
