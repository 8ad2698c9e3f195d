"""Times given by people: the one parser of `as_of` (the time the warehouse is built as of) for the
command line, the DAG's parameters and anything else that takes one."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_as_of(value: str | None, now: datetime | None = None) -> datetime:
    """An ISO 8601 time in UTC (a time without an offset is taken as UTC); empty or None means `now`
    (default: the current time). Raises ValueError saying what was wrong and what is expected."""
    if not value:
        return now or datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"as_of {value!r} is not an ISO 8601 time (e.g. 2026-06-30T00:00:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
