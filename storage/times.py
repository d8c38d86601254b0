"""How every repository stores time: UTC unix seconds in, aware UTC datetimes out."""

from __future__ import annotations

from datetime import UTC, datetime


def to_ts(instant: datetime) -> float:
    """Seconds since the epoch. A naive datetime is refused: its zone would be a guess."""
    if instant.tzinfo is None:
        raise ValueError("store aware datetimes only")
    return instant.timestamp()


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def from_ts_opt(value: float | None) -> datetime | None:
    return None if value is None else from_ts(value)
