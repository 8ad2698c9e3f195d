"""The same tables as files: CSV for spreadsheets, Parquet for analysts (types kept)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def to_bytes(table: pa.Table, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "csv":
        pa_csv.write_csv(table, buffer)
    elif fmt == "parquet":
        pq.write_table(table, buffer)
    else:
        raise ValueError(f"unknown download format {fmt!r}; use one of {sorted(MEDIA_TYPES)}")
    return buffer.getvalue()
