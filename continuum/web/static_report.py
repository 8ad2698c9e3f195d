"""`continuum report funders`: the funder page as a folder that opens from disk (file://) with no server
and no network: one HTML file with its style and charts inline, and the table's CSV and Parquet."""

from __future__ import annotations

from pathlib import Path

from common.files import write_atomically
from common.settings import Settings
from continuum.progress import Progress
from continuum.web import downloads, pages
from continuum.web.render import render

INDEX = "index.html"
TABLE = "funder_outcomes"


def write_funder_report(settings: Settings, out_dir: Path) -> Path:
    """Writes the report into out_dir (made if missing) and returns the path of its index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with Progress("funder report", total=3, unit="files") as progress:
        links = {fmt: f"{TABLE}.{fmt}" for fmt in downloads.MEDIA_TYPES}
        html = render("funders.html", nav=False, downloads=links, **pages.funder_context(settings))
        _write(out_dir / INDEX, html.encode("utf-8"))
        progress.advance()
        table = pages.funder_outcomes_table(settings)
        for fmt in downloads.MEDIA_TYPES:
            _write(out_dir / f"{TABLE}.{fmt}", downloads.to_bytes(table, fmt))
            progress.advance()
    return out_dir / INDEX


def _write(path: Path, content: bytes) -> None:
    """Write under a temporary name and rename, so a half-written report never replaces a whole one."""
    write_atomically(path, content)
