"""continuum airflow [--port N]"""

from __future__ import annotations

import argparse
import os

from common.settings import Settings

HELP = "start Airflow's UI and scheduler locally (airflow standalone) with the continuum_pipeline DAG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="port of Airflow's UI and API (default 8080)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.pipeline import airflow_home as af

    af.set_up(settings)
    env = af.service_env(settings, args.port)
    home = af.airflow_home(settings)
    print(f"Airflow home {home}; UI at http://localhost:{args.port} (the login is printed below and kept in")
    print(f"{home}/simple_auth_manager_passwords.json.generated). Ctrl-C stops it.")
    notify = f"CONTINUUM_LAND_NOTIFY_AIRFLOW_URL=http://127.0.0.1:{args.port}"
    print(f"For runs as batches land (docs/pipeline.md, Freshness): {notify} continuum land", flush=True)
    command = af.airflow_command("standalone")
    os.execve(command[0], command, env)  # Airflow takes over this process: Ctrl-C reaches it directly
