"""What a run left behind, in a few lines: landed, quarantined, loaded and built."""

from __future__ import annotations

import duckdb

from common.settings import Settings
from continuum.pipeline.quarantine import quarantined
from streams.landing.files import committed_batches


def summary(settings: Settings) -> dict[str, int]:
    counts = {"batches_landed": len(committed_batches(settings.landing_dir))}
    counts["batches_in_quarantine"] = len(quarantined(settings))
    if not settings.warehouse_path.exists():
        return counts
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
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
