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

# One word each, matched whole: no pattern here can backtrack across the message.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{1,2}:[0-9]{2}")
_DATE_T_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{1,2}:[0-9]{2}", re.IGNORECASE)
_ZONE = re.compile(r"[A-Za-z][\w/+-]*")


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


@dataclass(frozen=True)
class _Split:
    title: str
    when: str
    place: str | None


def _when_at(words: Sequence[str], i: int) -> tuple[str, int] | None:
    """If ``words[i]`` is ``at`` followed by a date and time, the time words and the index
    after them; a constant amount of work per call."""
    if words[i].lower() != "at" or i + 1 >= len(words):
        return None
    if _DATE_T_TIME.fullmatch(words[i + 1]):
        stamp = words[i + 1]
        return f"{stamp[:10]} {stamp[11:]}", i + 2
    if i + 2 < len(words) and _DATE.fullmatch(words[i + 1]) and _TIME.fullmatch(words[i + 2]):
        return f"{words[i + 1]} {words[i + 2]}", i + 3
    return None


def _split_event_add(words: Sequence[str]) -> _Split | None:
    """``<title> at <date> <time> [zone] [where <place>]`` by one scan over the words.

    The title is the shortest run of words after which an ``at <date> <time>`` is followed by
    nothing, a zone, ``where ...`` or both: a title may itself contain "at". Each candidate
    ``at`` is checked with a bounded look at the words after it, so the whole is linear in the
    length of the text (the regular expression this replaces backtracked quadratically).
    """
    for i in range(1, len(words)):
        found = _when_at(words, i)
        if found is None:
            continue
        when, j = found
        if j < len(words) and words[j].lower() != "where" and _ZONE.fullmatch(words[j]):
            when, j = f"{when} {words[j]}", j + 1
        if j == len(words):
            return _Split(" ".join(words[:i]), when, None)
        if words[j].lower() == "where":
            return _Split(" ".join(words[:i]), when, " ".join(words[j + 1 :]))
    return None


def parse_event_add(text: str, zone: ZoneInfo, now: datetime) -> EventDraft:
    """Parse and check the words after ``!event add``; ``zone`` is the room's zone."""
    split = _split_event_add(text.split())
    if split is None:
        raise EventError(f"use: {USAGE}")
    title = split.title
    place = split.place
    if not title:
        raise EventError(f"the event needs a title: {USAGE}")
    if len(title) > MAX_TITLE:
        raise EventError(f"the title is too long: at most {MAX_TITLE} characters")
    if place is not None and not place:
        raise EventError(f"say where after 'where', or leave it out: {USAGE}")
    if place is not None and len(place) > MAX_PLACE:
        raise EventError(f"the place is too long: at most {MAX_PLACE} characters")
    try:
        starts_at = parse_when(split.when, zone)
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
            f"<li><strong>{html.escape(when)}</strong>: {html.escape(e.title)}{html.escape(where)}</li>"
        )
    return "\n".join(lines), f"<ul>{''.join(items)}</ul>"
