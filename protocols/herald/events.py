"""The coalition calendar: ``!event add <title> at <when> [where <place>]`` and its .ics export.

Listing an action should need nobody's permission, and the list should travel: the export is a
plain iCalendar (RFC 5545) file that any calendar application imports. UIDs are derived from the
event itself, so importing the file again updates events instead of doubling them.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from protocols.errors import RuleError
from protocols.timespec import TimeSpecError, format_local, parse_when

MAX_TITLE = 120
MAX_PLACE = 200
# Events are for coordination, not archives: a far-future date is almost surely a typo.
MAX_AHEAD = timedelta(days=2 * 366)
USAGE = "!event add <title> at <YYYY-MM-DD HH:MM> [zone] [where <place>]"

_ADD = re.compile(
    r"^(?P<title>.+?)\s+at\s+"
    r"(?P<when>\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?:\s+(?!where\b)[A-Za-z][\w/+-]*)?)"
    r"(?:\s+where\s+(?P<place>.+))?$",
    re.IGNORECASE | re.DOTALL,
)


class EventError(RuleError):
    """An ``!event add`` was refused; the message says how to write it."""


@dataclass(frozen=True)
class EventDraft:
    """A validated event, not yet stored."""

    title: str
    starts_at: datetime  # UTC
    place: str | None


@dataclass(frozen=True)
class CalendarEvent:
    """A stored event as the calendar export needs it."""

    coalition: str
    room_id: str
    title: str
    starts_at: datetime  # UTC
    place: str | None
    created_at: datetime  # UTC


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse_event_add(text: str, zone: ZoneInfo, now: datetime) -> EventDraft:
    """Parse and check the words after ``!event add``; ``zone`` is the room's zone."""
    match = _ADD.match(text.strip())
    if not match:
        raise EventError(f"use: {USAGE}")
    title = _one_line(match.group("title"))
    place_text = match.group("place")
    place = _one_line(place_text) if place_text is not None else None
    if not title:
        raise EventError(f"the event needs a title: {USAGE}")
    if len(title) > MAX_TITLE:
        raise EventError(f"the title is too long: at most {MAX_TITLE} characters")
    if place is not None and not place:
        raise EventError(f"say where after 'where', or leave it out: {USAGE}")
    if place is not None and len(place) > MAX_PLACE:
        raise EventError(f"the place is too long: at most {MAX_PLACE} characters")
    try:
        starts_at = parse_when(_one_line(match.group("when")), zone)
    except TimeSpecError as exc:
        raise EventError(str(exc)) from exc
    if starts_at <= now:
        raise EventError(
            f"{format_local(starts_at, zone)} is in the past: the calendar is for what is to come"
        )
    if starts_at > now + MAX_AHEAD:
        raise EventError("that is more than two years ahead: check the year")
    return EventDraft(title=title, starts_at=starts_at, place=place)


def event_uid(event: CalendarEvent) -> str:
    """A UID that stays the same for the same stored event (RFC 5545 section 3.8.4.7)."""
    key = "\x1f".join(
        [
            event.coalition,
            event.room_id,
            event.title,
            event.starts_at.isoformat(),
            event.created_at.isoformat(),
        ]
    )
    return f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@affinity"


def events_to_ics(events: Sequence[CalendarEvent], calendar_name: str) -> bytes:
    """An iCalendar file holding ``events``, in start order; times are written in UTC."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Affinity//herald coalition calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar_name)
    for event in sorted(events, key=lambda e: (e.starts_at, e.title, event_uid(e))):
        entry = icalendar.Event()
        entry.add("uid", event_uid(event))
        entry.add("dtstamp", event.created_at.astimezone(ZoneInfo("UTC")))
        entry.add("dtstart", event.starts_at.astimezone(ZoneInfo("UTC")))
        entry.add("summary", event.title)
        if event.place:
            entry.add("location", event.place)
        cal.add_component(entry)
    return bytes(cal.to_ical())


def events_listing(events: Sequence[CalendarEvent], zone: ZoneInfo) -> tuple[str, str]:
    """``!events`` as ``(plain, html)``, in the asking room's zone."""
    ordered = sorted(events, key=lambda e: (e.starts_at, e.title))
    if not ordered:
        empty = f"No events yet. Add one: {USAGE}"
        return empty, f"<p>{html.escape(empty)}</p>"
    lines = []
    items = []
    for e in ordered:
        when = format_local(e.starts_at, zone)
        where = f" — {e.place}" if e.place else ""
        lines.append(f"• {when}: {e.title}{where}")
        items.append(
            f"<li><strong>{html.escape(when)}</strong>: {html.escape(e.title)}"
            f"{html.escape(where)}</li>"
        )
    return "\n".join(lines), f"<ul>{''.join(items)}</ul>"
