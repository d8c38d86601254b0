"""Parsing the chat surface's time words: ``<duration>`` and ``<when>`` (see DESIGN.md).

``<duration>`` is a positive number and a unit: ``90m``, ``48h``, ``7d``, ``2w`` (also ``30s``),
optionally several joined (``1d12h``). ``<when>`` is ``YYYY-MM-DD HH:MM`` with an optional IANA
zone or ``UTC`` after it; without one, the room's zone applies. Results are aware datetimes in UTC.
Pure: the caller passes the default zone; nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocols.errors import RuleError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_WHEN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})$")

# Generous but finite: nothing in the suite needs a duration longer than a few years, and a
# bound keeps arithmetic on datetimes from overflowing on hostile input.
MAX_DURATION = timedelta(days=3660)
# Years a <when> may name. Near year 9999 a zone's offset or an added duration overflows
# datetime; nothing the suite schedules is centuries away.
MIN_YEAR = 1970
MAX_YEAR = 2999
# IANA zone names are short; a longer name (or odd characters) is never a zone, and asking the
# file system about it can fail with OSError rather than "not found".
MAX_ZONE_NAME = 255
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")
# Digits a duration's number may have: 3660 days is 316,224,000 seconds (9 digits).
_MAX_DURATION_DIGITS = 12


class TimeSpecError(RuleError):
    """A time word the user typed cannot be understood; the message says what is expected
    (in the room's language: raised with the English sentence and its values, a RuleError)."""


def parse_duration(text: str) -> timedelta:
    """``"90m"`` -> 90 minutes. Zero, negative or unit-less values are errors."""
    cleaned = text.strip().lower()
    if len(cleaned) > 64 or not _DURATION.match(cleaned):
        raise TimeSpecError(
            "'{text}' is not a duration: use a number and a unit, like 90m, 48h, 7d or 2w", text=text
        )
    parts = _DURATION_PART.findall(cleaned)
    if any(len(n.lstrip("0")) > _MAX_DURATION_DIGITS for n, _ in parts):
        raise TimeSpecError("'{text}' is too long: at most {days} days", text=text, days=MAX_DURATION.days)
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise TimeSpecError("'{text}' is not a duration: it must be longer than zero", text=text)
    if seconds > MAX_DURATION.total_seconds():
        raise TimeSpecError("'{text}' is too long: at most {days} days", text=text, days=MAX_DURATION.days)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of :func:`parse_duration`, in the largest units that fit exactly."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if unit == "w" and seconds % size:
            continue  # "10d" reads better than "1w3d"
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name (``Europe/Paris``, ``UTC``); unknown names are errors."""
    if len(name) > MAX_ZONE_NAME:
        raise TimeSpecError(
            "that is not a time zone (a zone name is at most {most} characters): "
            "use an IANA name like Europe/Berlin",
            most=MAX_ZONE_NAME,
        )
    if not name or not _ZONE_NAME.match(name) or ".." in name:
        raise TimeSpecError("'{name}' is not a time zone: use an IANA name like Europe/Berlin", name=name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise TimeSpecError(
            "'{name}' is not a time zone: use an IANA name like Europe/Berlin or UTC", name=name
        ) from exc


def parse_when(text: str, default_zone: ZoneInfo) -> datetime:
    """``"2026-12-01 18:30 Europe/Paris"`` -> that instant, in UTC.

    A wall-clock time that does not exist (skipped by a DST change) is an error rather than a
    silent shift; an ambiguous one (repeated) takes its first occurrence.
    """
    words = text.split()
    zone = default_zone
    if len(words) == 3:
        zone = parse_zone(words[2])
        words = words[:2]
    match = _WHEN.match(" ".join(words)) if len(words) == 2 else None
    if not match:
        raise TimeSpecError(
            "'{text}' is not a time: use YYYY-MM-DD HH:MM, optionally with a zone (e.g. UTC)", text=text
        )
    year, month, day, hour, minute = (int(g) for g in match.groups())
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise TimeSpecError(
            "'{text}' is out of range: the year must be between {first} and {last}",
            text=text,
            first=str(MIN_YEAR),
            last=str(MAX_YEAR),
        )
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError as exc:
        raise TimeSpecError(
            "'{text}' is not a valid date or time: check the month, the day, the hour and the minute",
            text=text,
        ) from exc
    local = naive.replace(tzinfo=zone, fold=0)
    try:
        as_utc = local.astimezone(UTC)
    except OverflowError as exc:  # unreachable within the year bounds; kept typed all the same
        raise TimeSpecError("'{text}' is out of range", text=text) from exc
    if as_utc.astimezone(zone).replace(tzinfo=None) != naive:
        raise TimeSpecError("'{text}' does not exist in {zone}: the clocks skip it", text=text, zone=zone.key)
    return as_utc


def format_local(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as people in the room read it: ``2026-12-01 18:30 CET``."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
