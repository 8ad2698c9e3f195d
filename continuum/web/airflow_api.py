"""The last DAG runs and their failed tasks, through the Airflow 3 REST API of the api-server
(`settings.airflow_api_url`): the compose deployment's `airflow-apiserver`, or the embedded set-up's
(`continuum airflow`). Airflow owns its metadata database (PostgreSQL or SQLite); the API is the one
way to read it that works in both.

Authentication: POST /auth/token with a user and password gives a JWT (Airflow's SimpleAuthManager);
the token is kept until the API refuses it, then fetched again once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from common.settings import Settings

TIMEOUT_S = 3.0  # a page, not a monitoring probe


class AirflowApiError(RuntimeError):
    """The api-server could not be asked or refused (the message says which and what to check)."""


def password_file(settings: Settings) -> Path:
    if settings.airflow_api_password_file is not None:
        return settings.airflow_api_password_file
    from continuum.pipeline.airflow_home import airflow_home

    return airflow_home(settings) / "simple_auth_manager_passwords.json.generated"


def read_password(settings: Settings) -> str:
    """The password, from a plain file or from SimpleAuthManager's JSON of {user: password}."""
    path = password_file(settings)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise AirflowApiError(
            f"cannot read the Airflow password for {settings.airflow_api_username!r} from {path} "
            f"({error.strerror}); set CONTINUUM_AIRFLOW_API_PASSWORD_FILE"
        ) from None
    if text.startswith("{"):
        passwords = json.loads(text)
        if settings.airflow_api_username not in passwords:
            raise AirflowApiError(f"{path} has no password for {settings.airflow_api_username!r}")
        return passwords[settings.airflow_api_username]
    return text


class AirflowApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = settings.airflow_api_url.rstrip("/")
        self._token: str | None = None
        self._lock = threading.Lock()

    def _new_token(self, client: httpx.Client) -> str:
        body = {"username": self.settings.airflow_api_username, "password": read_password(self.settings)}
        response = client.post(f"{self.base}/auth/token", json=body)
        if response.status_code not in (200, 201):
            raise AirflowApiError(
                f"the api-server at {self.base} refused user {self.settings.airflow_api_username!r} "
                f"(HTTP {response.status_code}); check CONTINUUM_AIRFLOW_API_USERNAME and its password file"
            )
        return response.json()["access_token"]

    def get(self, path: str, params: dict | list | None = None) -> dict:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            try:
                for attempt in range(2):
                    with self._lock:
                        if self._token is None or attempt:
                            self._token = self._new_token(client)
                        token = self._token
                    response = client.get(
                        f"{self.base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
                    )
                    if response.status_code != 401:
                        break
            except httpx.HTTPError as error:
                raise AirflowApiError(
                    f"the Airflow api-server at {self.base} is not reachable: {error}"
                ) from None
        if response.status_code != 200:
            raise AirflowApiError(f"GET {path} from the api-server answered HTTP {response.status_code}")
        return response.json()

    def dag_runs(self, limit: int) -> list[dict]:
        """The last runs of every DAG, newest first, each with its failed tasks."""
        found = self.get("/api/v2/dags/~/dagRuns", {"order_by": "-run_after", "limit": limit})
        return [self._run_row(run) for run in found["dag_runs"]]

    def _run_row(self, run: dict) -> dict:
        failed = self.get(
            f"/api/v2/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances",
            [("state", "failed"), ("state", "upstream_failed"), ("limit", 100)],
        )["task_instances"]
        return {
            "dag_id": run["dag_id"],
            "run_id": run["dag_run_id"],
            "state": run["state"],
            "start_date": run.get("start_date"),
            "end_date": run.get("end_date"),
            "failed_tasks": ", ".join(sorted({t["task_id"] for t in failed})),
        }
