from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.timespec import (
    TimeSpecError,
    format_duration,
    format_local,
    parse_duration,
    parse_when,
    parse_zone,
)

UTC = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("48h", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("30s", timedelta(seconds=30)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["-1d", "0d", "7", "d", "", "1x", "1.5h", "99999w"])
def test_bad_durations_are_errors(text: str) -> None:
    with pytest.raises(TimeSpecError):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=3000 * 86400))
def test_format_duration_round_trips(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


def test_parse_when_defaults_to_room_zone_and_returns_utc() -> None:
    paris = ZoneInfo("Europe/Paris")
    when = parse_when("2026-12-01 18:30", paris)
    assert when == datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
    assert parse_when("2026-07-01 18:30", paris) == datetime(2026, 7, 1, 16, 30, tzinfo=UTC)
    assert parse_when("2026-12-01 18:30 UTC", paris).hour == 18
    assert parse_when("2026-12-01 18:30 America/New_York", paris).hour == 23


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "2026-13-01 10:00",
        "2026-02-30 10:00",
        "2026-12-01 25:00",
        "2026-12-01 10:00 Mars/Base",
        "2026-12-01",
        "2026-12-01 10:00 UTC extra",
    ],
)
def test_bad_when_is_an_error(text: str) -> None:
    with pytest.raises(TimeSpecError):
        parse_when(text, UTC)


def test_nonexistent_local_time_is_an_error() -> None:
    # 2026-03-29 02:30 does not exist in Paris: clocks go from 02:00 to 03:00.
    with pytest.raises(TimeSpecError):
        parse_when("2026-03-29 02:30", ZoneInfo("Europe/Paris"))


def test_zone_and_local_format() -> None:
    assert parse_zone("Europe/Berlin").key == "Europe/Berlin"
    with pytest.raises(TimeSpecError):
        parse_zone("../etc/passwd")
    instant = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
    assert format_local(instant, ZoneInfo("Europe/Paris")) == "2026-12-01 18:30 CET"
