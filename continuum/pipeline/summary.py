"""What a run left behind, in a few lines: landed, quarantined, loaded and built; and per provider, the
reconciliation of what landed with what loaded and what is held."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from common.duckdb_limits import bound
from common.names import provider_of_topic
from common.settings import Settings
from continuum.pipeline.quarantine import HELD_ROWS_FILE, quarantined
from streams.landing.files import committed_batches, quarantined_batches


def summary(settings: Settings) -> dict[str, int]:
    counts = {"batches_landed": len(committed_batches(settings.landing_dir))}
    counts["batches_in_quarantine"] = len(quarantined(settings))
    if not settings.warehouse_path.exists():
        return counts
    with bound(duckdb.connect(str(settings.warehouse_path), read_only=True), settings) as con:
        for status, n in con.execute("SELECT status, count(*) FROM raw.batches GROUP BY 1").fetchall():
            counts[f"batches_{status}"] = n
        counts["raw_events"] = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        counts["raw_dead_letters"] = con.execute("SELECT count(*) FROM raw.dead_letters").fetchone()[0]
        counts["marts_tables"] = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchone()[0]
    return counts


def print_summary(settings: Settings) -> None:
    print()
    for name, value in summary(settings).items():
        print(f"{name.replace('_', ' '):<24} {value:>10,}")
    from continuum.pipeline import dbt, publish  # what readers have, and as of when (a build may be skipped)

    published = publish.describe_published(settings, dbt.read_build_state(settings))
    if published:
        print(published)


@dataclass
class ProviderCounts:
    """One provider's rows from landing to the warehouse. `landed` counts every row of every events
    file committed (in landing/ or moved to quarantine/); it must equal loaded + quarantined + pending
    (files not validated yet). Dead letters likewise: landed = loaded + pending."""

    landed: int = 0
    loaded: int = 0
    quarantined: int = 0
    pending: int = 0
    dead_letters_landed: int = 0
    dead_letters_loaded: int = 0
    dead_letters_pending: int = 0

    @property
    def reconciles(self) -> bool:
        return self.landed == self.loaded + self.quarantined + self.pending and (
            self.dead_letters_landed == self.dead_letters_loaded + self.dead_letters_pending
        )


def _rows(path: Path | None) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path and path.exists() else 0


def reconciliation(settings: Settings) -> dict[str, ProviderCounts]:
    """Per provider (by topic): landed = loaded + quarantined (+ pending), events and dead letters."""
    counts: dict[str, ProviderCounts] = defaultdict(ProviderCounts)
    ledger: set[str] = set()
    loaded: list[tuple[str, int, int]] = []
    if settings.warehouse_path.exists():
        with bound(duckdb.connect(str(settings.warehouse_path), read_only=True), settings) as con:
            ledger = {name for (name,) in con.execute("SELECT batch_name FROM raw.batches").fetchall()}
            loaded = con.execute(
                "SELECT kafka_topic, count(*), 0 FROM raw.events GROUP BY 1 UNION ALL "
                "SELECT kafka_topic, 0, count(*) FROM raw.dead_letters GROUP BY 1"
            ).fetchall()
    for topic, events, dead_letters in loaded:
        provider = provider_of_topic(topic) or topic
        counts[provider].loaded += events
        counts[provider].dead_letters_loaded += dead_letters
    for batch, held_whole in [
        *((b, False) for b in committed_batches(settings.landing_dir)),
        *((b, True) for b in quarantined_batches(settings.quarantine_dir)),
    ]:
        provider = provider_of_topic(batch.topic) or batch.topic
        events, dead_letters = _rows(batch.events_path), _rows(batch.dead_letters_path)
        counts[provider].landed += events
        counts[provider].dead_letters_landed += dead_letters
        if held_whole:  # quarantined: its dead letters were loaded when it was
            counts[provider].quarantined += events
        elif batch.name not in ledger:
            counts[provider].pending += events
            counts[provider].dead_letters_pending += dead_letters
    for held in quarantined(settings):
        if held.kind == "rows":
            counts[held.verdict.ref.provider_id or held.verdict.ref.topic].quarantined += _rows(
                held.directory / HELD_ROWS_FILE
            )
    return dict(sorted(counts.items()))


def print_reconciliation(settings: Settings) -> None:
    """The per-provider table `continuum status` prints."""
    rows = reconciliation(settings)
    print(
        f"{'provider':<32} {'landed':>9} {'loaded':>9} {'quarant.':>9} {'pending':>9} "
        f"{'dead l.':>8} {'loaded':>8}  reconciles"
    )
    for provider, c in rows.items():
        print(
            f"{provider:<32} {c.landed:>9} {c.loaded:>9} {c.quarantined:>9} {c.pending:>9} "
            f"{c.dead_letters_landed:>8} {c.dead_letters_loaded:>8}  {'yes' if c.reconciles else 'NO'}"
        )
