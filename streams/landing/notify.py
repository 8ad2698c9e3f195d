"""Telling the orchestrator that batches were committed: one Airflow asset event, debounced.

The lander service lands continuously; the DAG (dags/continuum_pipeline.py) is scheduled on the asset
`LANDED_BATCHES` as well as on its clock. After a batch is committed, the writer calls
`BatchNotifier.committed` (it only sets a counter); a thread of the notifier posts
`POST /api/v2/assets/events` to Airflow's api-server at most once per `land_notify_min_seconds`, with the
batches and events committed since the last post in `extra`. One event for many batches is enough: a DAG
run loads every batch not yet in the ledger, whichever event triggered it.

Best effort, by design: the notifier never blocks or stops landing. An api-server that is down, slow or
refuses is logged (once per `land_outage_log_seconds`) and the counts are kept for the next try; the
DAG's clock schedule still picks the batches up. Off unless `CONTINUUM_LAND_NOTIFY_AIRFLOW_URL` is set.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import httpx

from common.settings import Settings

log = logging.getLogger(__name__)

#: The asset the lander updates and the DAG is scheduled on. Its URI is its name: nothing reads it.
LANDED_BATCHES = "continuum_landed_batches"
#: The embedded Airflow's (`continuum airflow`) generated passwords, as SimpleAuthManager writes them:
#: the same place as continuum/pipeline/airflow_home.py's AIRFLOW_HOME (streams may not import it).
EMBEDDED_PASSWORDS = Path("airflow") / "simple_auth_manager_passwords.json.generated"
TIMEOUT_S = 5.0


class NotifyRefused(RuntimeError):
    """The api-server answered, but not as expected (the message says what to check)."""


class AirflowAssets:
    """The two calls the notifier needs, with a JWT from /auth/token kept until it is refused."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = (settings.land_notify_airflow_url or "").rstrip("/")
        self._client = httpx.Client(timeout=TIMEOUT_S)
        self._token: str | None = None
        self._asset_id: int | None = None

    def close(self) -> None:
        self._client.close()

    def send_event(self, extra: dict) -> None:
        if self._asset_id is None:
            self._asset_id = self._find_asset_id()
        self._call("POST", "/api/v2/assets/events", json={"asset_id": self._asset_id, "extra": extra})

    def _find_asset_id(self) -> int:
        found = self._call("GET", "/api/v2/assets", params={"name_pattern": LANDED_BATCHES}).json()
        ids = [a["id"] for a in found.get("assets", []) if a.get("name") == LANDED_BATCHES]
        if not ids:
            raise NotifyRefused(
                f"Airflow at {self.base} knows no asset {LANDED_BATCHES!r}: has the dag-processor parsed "
                "dags/continuum_pipeline.py yet?"
            )
        return ids[0]

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(2):
            if self._token is None or attempt:
                self._token = self._new_token()
            headers = {"Authorization": f"Bearer {self._token}"}
            response = self._client.request(method, f"{self.base}{path}", headers=headers, **kwargs)
            if response.status_code != 401:
                break
        if response.status_code not in (200, 201):
            raise NotifyRefused(
                f"{method} {path} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        return response

    def _new_token(self) -> str:
        user = self.settings.land_notify_username
        body = {"username": user, "password": self._password()}
        response = self._client.post(f"{self.base}/auth/token", json=body)
        if response.status_code not in (200, 201):
            raise NotifyRefused(
                f"Airflow at {self.base} refused user {user!r} (HTTP {response.status_code}): check "
                "CONTINUUM_LAND_NOTIFY_USERNAME and CONTINUUM_LAND_NOTIFY_PASSWORD_FILE (role op or admin)"
            )
        return response.json()["access_token"]

    def _password(self) -> str:
        path = self.settings.land_notify_password_file or self.settings.state_dir / EMBEDDED_PASSWORDS
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise NotifyRefused(f"cannot read the Airflow password from {path}: {error.strerror}") from None
        if not text.startswith("{"):
            return text
        passwords = json.loads(text)  # SimpleAuthManager's {user: password}
        if self.settings.land_notify_username not in passwords:
            raise NotifyRefused(f"{path} has no password for {self.settings.land_notify_username!r}")
        return passwords[self.settings.land_notify_username]


class BatchNotifier:
    """Counts committed batches (any thread) and posts them as one asset event per interval (its own)."""

    def __init__(self, settings: Settings, worker: str = "lander") -> None:
        self.settings = settings
        self.worker = worker
        self.min_interval_s = settings.land_notify_min_seconds
        self._assets = AirflowAssets(settings)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._batches = self._events = 0
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._run, name="lander-notify", daemon=True)
        #: Asset events posted, and failed tries: for logs and tests.
        self.sent = self.failures = 0

    @classmethod
    def from_settings(cls, settings: Settings, worker: str = "lander") -> BatchNotifier | None:
        """A started notifier when CONTINUUM_LAND_NOTIFY_AIRFLOW_URL is set, else None."""
        if not settings.land_notify_airflow_url:
            return None
        notifier = cls(settings, worker)
        notifier._thread.start()
        return notifier

    def committed(self, events: int) -> None:
        """A batch was committed. Never blocks beyond a lock held for two additions."""
        with self._lock:
            self._batches += 1
            self._events += events
        self._wake.set()

    def close(self, timeout_s: float = TIMEOUT_S) -> None:
        """Post what is pending (once, best effort), then stop the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self._assets.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            stopping = self._stop.is_set()
            self._wake.clear()
            started = time.monotonic()
            self._post_pending()
            if stopping:
                return
            # The debounce: whatever is committed meanwhile waits for the next post.
            self._stop.wait(max(0.0, self.min_interval_s - (time.monotonic() - started)))

    def _post_pending(self) -> None:
        with self._lock:
            batches, events = self._batches, self._events
            self._batches = self._events = 0
        if not batches:
            return
        try:
            self._assets.send_event({"batches": batches, "events": events, "worker": self.worker})
            self.sent += 1
        except Exception as error:  # best effort: any failure is logged; the counts wait for the next try
            self.failures += 1
            with self._lock:
                self._batches += batches
                self._events += events
            self._wake.set()
            self._log_failure(error)

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= self.settings.land_outage_log_seconds:
            self._last_error_log = now
            log.warning(
                "could not tell Airflow at %s that batches were committed (%s); landing goes on, the DAG's "
                "clock schedule picks them up",
                self.settings.land_notify_airflow_url,
                error,
            )
