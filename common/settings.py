"""All configuration, in one typed object read from the environment once.

Every setting is `CONTINUUM_<NAME>` in the environment (e.g. `CONTINUUM_HOME`,
`CONTINUUM_KAFKA_BOOTSTRAP`). No other module reads `os.environ` for Continuum settings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: where `dbt_project/`, `dags/` and `expectations/` live.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The demo network's linkage secret. Real providers share their own secret out of band and
#: never give it to the warehouse; this one exists so that the simulator is reproducible.
DEMO_LINKAGE_SECRET = "continuum-demo-linkage-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTINUUM_", extra="ignore")

    home: Path = Field(default=Path(".continuum"), description="Directory for all local state.")
    kafka_bootstrap: str | None = Field(
        default=None,
        description="bootstrap servers of an external broker; when unset the embedded broker is used",
    )
    broker_port: int = Field(default=19092, description="port of the embedded broker on 127.0.0.1")
    topic_partitions: int = Field(default=3, ge=1, description="partitions of each provider topic")
    provider_directory: Path = Field(
        default=PROJECT_ROOT / "dbt_project" / "seeds" / "provider_directory.csv",
        description="the one provider directory shared by simulator, broker set-up and warehouse",
    )
    linkage_secret: str = Field(default=DEMO_LINKAGE_SECRET, description="network linkage secret")
    land_batch_events: int = Field(default=20_000, ge=1, description="flush a landing batch at N events")
    land_batch_seconds: float = Field(default=5.0, gt=0, description="... or after T seconds")
    land_topic_refresh_seconds: float = Field(
        default=10.0, gt=0, description="the lander looks for new provider topics every T seconds"
    )
    land_broker_timeout_seconds: float = Field(
        default=5.0, gt=0, description="a broker request the lander makes fails after T seconds"
    )
    land_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="longest wait between the lander's retries of an unreachable broker"
    )
    land_outage_log_seconds: float = Field(
        default=10.0, gt=0, description="the lander logs an unreachable broker once per T seconds"
    )
    land_workers: int = Field(
        default=2, ge=1, description="lander processes, each landing its share of the partitions"
    )
    land_writer_thread: bool = Field(
        default=False,
        description="each lander validates and writes on a thread of its own, not the consumer's",
    )
    land_dead_letter_max_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="largest dead letter sent whole to pipeline.dead-letter (at most the topic's "
        "max.message.bytes); a bigger one is sent truncated, and kept whole in the dead-letter files",
    )
    # Freshness (streams/landing/notify.py): the lander service tells Airflow that batches were committed.
    land_notify_airflow_url: str | None = Field(
        default=None,
        description="Airflow api-server the lander service posts an asset event to after committing "
        "batches (e.g. http://127.0.0.1:8080); unset: no events, the DAG runs on its clock only",
    )
    land_notify_username: str = Field(
        default="admin", description="Airflow user (role op or admin) the lander posts asset events as"
    )
    land_notify_password_file: Path | None = Field(
        default=None,
        description="file with that user's password, plain or SimpleAuthManager's JSON "
        "(default: the embedded set-up's generated passwords file)",
    )
    airflow_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database of `continuum airflow` and `continuum run` "
        "(e.g. postgresql+psycopg2://…); unset: a SQLite file in CONTINUUM_HOME/airflow",
    )
    land_notify_min_seconds: float = Field(
        default=5.0, ge=0, description="the lander posts at most one asset event per T seconds"
    )
    web_host: str = Field(default="127.0.0.1", description="address `continuum serve` binds to")
    web_port: int = Field(default=8000, ge=1, le=65535, description="port `continuum serve` listens on")
    web_session_hours: float = Field(default=12.0, gt=0, description="a browser sign-in lasts (hours)")
    # Access to the web app (docs/access.md): roles, sign-in throttling, the TLS proxy, the funder page.
    web_funders_public: bool = Field(
        default=False, description="the funder page and its downloads open without a credential"
    )
    web_signin_max_failures: int = Field(
        default=5, ge=1, description="failed sign-ins from one address before it is refused for a while"
    )
    web_signin_lockout_seconds: float = Field(
        default=300.0, gt=0, description="the window failed sign-ins are counted in, and the refusal lasts"
    )
    web_trust_proxy: bool = Field(
        default=False,
        description="believe X-Forwarded-Proto/-For (only behind a TLS proxy that sets them, as in compose)",
    )
    airflow_api_url: str = Field(
        default="http://127.0.0.1:8080", description="Airflow 3 api-server that /ops reads DAG runs from"
    )
    airflow_api_username: str = Field(default="admin", description="Airflow user /ops signs in as")
    airflow_api_password_file: Path | None = Field(
        default=None,
        description="file with that user's password, plain or SimpleAuthManager's JSON "
        "(default: the embedded set-up's generated passwords file)",
    )
    # Kafka authentication (docs/deploy.md). PLAINTEXT suits the embedded broker; a deployed broker takes
    # SASL/SCRAM with one principal per provider, one for the pipeline. The password comes from the
    # environment or, better, from a file such as a Docker secret (CONTINUUM_KAFKA_PASSWORD_FILE).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="how Kafka clients connect"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*"
    )
    kafka_username: str | None = Field(default=None, description="SCRAM principal of this client")
    kafka_password: SecretStr | None = Field(default=None, description="SCRAM password of this client")
    kafka_password_file: Path | None = Field(
        default=None, description="file holding the SCRAM password (e.g. /run/secrets/kafka_password)"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA certificate that signed the broker's TLS certificate (SASL_SSL)"
    )
    kafka_pipeline_username: str = Field(
        default="continuum-pipeline",
        description="the principal that alone reads provider topics and writes pipeline.dead-letter",
    )
    kafka_monitor_username: str = Field(
        default="continuum-monitor",
        description="the principal that may only describe topics and read their offsets (lag on /ops)",
    )
    topic_replication: int = Field(
        default=1, ge=1, description="replication factor of the topics a deployment creates (3 on 3 brokers)"
    )
    duckdb_memory_limit: str = Field(
        default="2GB",
        description="memory limit of every DuckDB the pipeline opens (dbt's, the loader's, validation's, "
        "publishing's): beyond it DuckDB spills to CONTINUUM_HOME/state/duckdb-spill, so a back-load of "
        "years of events runs in bounded memory (DuckDB's own default is 80 % of the machine)",
    )
    duckdb_threads: int | None = Field(
        default=None, ge=1, description="threads of every DuckDB the pipeline opens (default: one per core)"
    )

    @model_validator(mode="after")
    def _read_password_file(self) -> Settings:
        if self.kafka_password is None and self.kafka_password_file is not None:
            try:
                secret = self.kafka_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read CONTINUUM_KAFKA_PASSWORD_FILE: {exc}") from exc
            self.kafka_password = SecretStr(secret)
        return self

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"

    @property
    def uses_embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def state_dir(self) -> Path:
        return self.home.resolve()

    @property
    def landing_dir(self) -> Path:
        return self.state_dir / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.state_dir / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        return self.state_dir / "warehouse.duckdb"

    @property
    def published_warehouse_path(self) -> Path:
        return self.state_dir / "published" / "warehouse.duckdb"

    @property
    def duckdb_spill_dir(self) -> Path:
        """Where DuckDB writes what does not fit in `duckdb_memory_limit` (emptied by DuckDB itself)."""
        return self.state_dir / "duckdb-spill"

    @property
    def data_docs_dir(self) -> Path:
        return self.state_dir / "data_docs"

    @property
    def web_credentials_path(self) -> Path:
        """Named credentials of the web app: SHA-256 hashes only (docs/access.md)."""
        return self.state_dir / "web_credentials.json"

    @property
    def web_sessions_path(self) -> Path:
        """Server-side browser sessions (a signed-out or expired session is gone from here)."""
        return self.state_dir / "web_sessions.sqlite"

    @property
    def audit_log_path(self) -> Path:
        """Who opened which page or file: append-only, hash-chained JSON lines."""
        return self.state_dir / "audit" / "access.jsonl"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings. Tests that change the environment call `get_settings.cache_clear()`."""
    return Settings()
