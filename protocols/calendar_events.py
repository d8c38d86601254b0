"""The public calendar's events: what one is, and the words that list or change one.

``!event add <title> at <when> [until <when>] [where <place>] [private]`` and
``!event edit <id> <field> <value>``. The calendar is public (a feed and a page anyone with its
address reads), so nothing typed into it may name a person: a Matrix id in a title, a place or a
reason is refused with a clear error, and a private place is kept for members only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.timespec import TimeSpecError, format_local, parse_when, parse_zone

MAX_TITLE = 120
MAX_PLACE = 200
MAX_REASON = 200
# Events are for coordination, not archives: a far-future date is almost surely a typo.
MAX_AHEAD = timedelta(days=2 * 366)
# An action lasts hours or a few days; a week-long one is a camp, longer is a typo.
MAX_LENGTH = timedelta(days=14)
USAGE = (
    "!event add <title> at <YYYY-MM-DD HH:MM> [zone] [until <[YYYY-MM-DD] HH:MM>] [where <place>] [private]"
)
EDIT_USAGE = "!event edit <id> <title|at|until|where|private> <value>"
FIELDS = ("title", "at", "until", "where", "private")

# One word each, matched whole: no pattern here can backtrack across the message.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{1,2}:[0-9]{2}")
_DATE_T_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{1,2}:[0-9]{2}", re.IGNORECASE)
_ZONE = re.compile(r"[A-Za-z][\w/+-]*")
# A Matrix user id, room id, alias or event id (``@name:server``, ``!id:server``, ``#a:server``),
# or a matrix.to link: none of these may reach the public calendar.
_MATRIX_ID = re.compile(r"[@!#$+][^\s:@!#]{1,255}:[A-Za-z0-9.\-\[\]]+|matrix\.to/", re.IGNORECASE)
_KEYWORDS = {"until", "where", "private"}
_SAME_DAY = "same-day "


class EventError(RuleError):
    """An event command was refused; the message says how to write it."""


@dataclass(frozen=True)
class EventDraft:
    """A validated event, not yet stored. Times are UTC; ``zone`` is the zone it is shown in."""

    title: str
    starts_at: datetime
    ends_at: datetime | None
    zone: str
    place: str | None
    private: bool


@dataclass(frozen=True)
class EventEdit:
    """One field of a stored event to change: ``value`` is already checked and typed."""

    event_id: int
    field: str  # one of FIELDS
    value: str | datetime | bool | None


def names_nobody(text: str) -> bool:
    """Whether ``text`` holds no Matrix id or matrix.to link."""
    return _MATRIX_ID.search(text) is None


def scrub(text: str) -> str:
    """``text`` with any Matrix id or matrix.to link hidden (text from a followed feed)."""
    return _MATRIX_ID.sub("[hidden]", text)


def check_text(what: str, text: str, limit: int) -> str:
    """One line of public text: not empty, not too long, no control characters, no Matrix id."""
    line = " ".join(text.split())
    if not line:
        raise _text_error(what, "empty", limit)
    if len(line) > limit:
        raise _text_error(what, "long", limit)
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in line):
        raise _text_error(what, "control", limit)
    if not names_nobody(line):
        raise _text_error(what, "names", limit)
    return line


def _text_error(what: str, problem: str, limit: int) -> EventError:
    """The refusal of a title, place or reason, one whole sentence each (translatable)."""
    errors = {
        ("title", "empty"): EventError("the title is empty"),
        ("place", "empty"): EventError("the place is empty"),
        ("reason", "empty"): EventError("the reason is empty"),
        ("title", "long"): EventError("the title is too long: at most {limit} characters", limit=limit),
        ("place", "long"): EventError("the place is too long: at most {limit} characters", limit=limit),
        ("reason", "long"): EventError("the reason is too long: at most {limit} characters", limit=limit),
        ("title", "control"): EventError("the title contains control characters; type plain text"),
        ("place", "control"): EventError("the place contains control characters; type plain text"),
        ("reason", "control"): EventError("the reason contains control characters; type plain text"),
        ("title", "names"): EventError(
            "the title holds a Matrix id or link; the calendar is public and names nobody, so leave it out"
        ),
        ("place", "names"): EventError(
            "the place holds a Matrix id or link; the calendar is public and names nobody, so leave it out"
        ),
        ("reason", "names"): EventError(
            "the reason holds a Matrix id or link; the calendar is public and names nobody, so leave it out"
        ),
    }
    return errors[(what, problem)]


def _when_after(words: Sequence[str], i: int) -> tuple[str, int] | None:
    """The ``<date> <time> [zone]`` starting at ``words[i]`` and the index after it."""
    if i >= len(words):
        return None
    if _DATE_T_TIME.fullmatch(words[i]):
        when, j = f"{words[i][:10]} {words[i][11:]}", i + 1
    elif i + 1 < len(words) and _DATE.fullmatch(words[i]) and _TIME.fullmatch(words[i + 1]):
        when, j = f"{words[i]} {words[i + 1]}", i + 2
    else:
        return None
    if j < len(words) and words[j].lower() not in _KEYWORDS and _ZONE.fullmatch(words[j]):
        when, j = f"{when} {words[j]}", j + 1
    return when, j


@dataclass(frozen=True)
class _Split:
    title: str
    start: str
    end: str | None
    place: str | None
    private: bool


def _tail(words: Sequence[str], j: int) -> tuple[str | None, str | None, bool] | None:
    """``[until <when>] [where <place>] [private]`` from ``words[j:]``; None if it is not that."""
    end = None
    if j < len(words) and words[j].lower() == "until":
        found = _when_after(words, j + 1)
        if found is None and j + 1 < len(words) and _TIME.fullmatch(words[j + 1]):
            found = (_SAME_DAY + words[j + 1], j + 2)  # a time on the start's day
        if found is None:
            return None
        end, j = found
    private = bool(words) and len(words) > j and words[-1].lower() == "private"
    stop = len(words) - 1 if private else len(words)
    place = None
    if j < stop:
        if words[j].lower() != "where":
            return None
        place = " ".join(words[j + 1 : stop])
    return end, place, private


def _split(words: Sequence[str]) -> _Split | None:
    """The title is the shortest run of words after which ``at <when>`` and a valid tail follow
    (a title may itself contain "at"); each candidate is checked with a bounded look ahead, and
    the tail once, so the whole is linear in the length of the text."""
    for i in range(1, len(words)):
        if words[i].lower() != "at":
            continue
        found = _when_after(words, i + 1)
        if found is None:
            continue
        tail = _tail(words, found[1])
        if tail is not None:
            return _Split(" ".join(words[:i]), found[0], *tail)
    return None


def _time(text: str, zone: ZoneInfo) -> datetime:
    try:
        return parse_when(text, zone)
    except TimeSpecError as exc:
        raise EventError.restated(exc) from exc


def check_times(starts_at: datetime, ends_at: datetime | None, zone: ZoneInfo, now: datetime) -> None:
    """The start is to come and within two years; an end is after the start, within two weeks."""
    if starts_at <= now:
        raise EventError(
            "{when} is in the past: the calendar is for what is to come", when=format_local(starts_at, zone)
        )
    if starts_at > now + MAX_AHEAD:
        raise EventError("that is more than two years ahead: check the year")
    if ends_at is not None and ends_at <= starts_at:
        raise EventError("the end ('until') must come after the start ('at')")
    if ends_at is not None and ends_at - starts_at > MAX_LENGTH:
        raise EventError("an event lasts at most two weeks: check the end date")


def parse_event_add(text: str, zone: ZoneInfo, now: datetime) -> EventDraft:
    """Parse and check the words after ``!event add``; ``zone`` is the room's zone."""
    split = _split(text.split())
    if split is None:
        raise EventError("use: {usage}", usage=USAGE)
    if not split.title:
        raise EventError("the event needs a title: {usage}", usage=USAGE)
    title = check_text("title", split.title, MAX_TITLE)
    if split.place is not None and not split.place:
        raise EventError("say where after 'where', or leave it out: {usage}", usage=USAGE)
    place = check_text("place", split.place, MAX_PLACE) if split.place is not None else None
    if split.private and place is None:
        raise EventError("'private' keeps the place for members: say where (where <place>) first")
    starts_at = _time(split.start, zone)
    shown = _shown_zone(split.start, zone)
    # An end without a zone is in the start's zone (``at 18:00 Europe/Paris until 20:00``), and
    # an end that is only a time is on the start's day there.
    end = split.end
    if end is not None and end.startswith(_SAME_DAY):
        end = f"{starts_at.astimezone(parse_zone(shown)):%Y-%m-%d} {end.removeprefix(_SAME_DAY)}"
    ends_at = _time(end, parse_zone(shown)) if end is not None else None
    check_times(starts_at, ends_at, zone, now)
    return EventDraft(title, starts_at, ends_at, shown, place, split.private)


def _shown_zone(when: str, zone: ZoneInfo) -> str:
    """The zone an event is shown in: the one typed after the time, else the room's."""
    words = when.split()
    if len(words) == 3:
        try:
            return parse_zone(words[2]).key
        except TimeSpecError:
            pass
    return zone.key


_ON_OFF = {"on": True, "yes": True, "off": False, "no": False}


def parse_event_edit(text: str, zone: ZoneInfo) -> EventEdit:
    """``<id> <field> <value>``: the value checked for its field (times read in ``zone``; the
    event's own start and end are checked together by :func:`check_times` once it is loaded)."""
    parts = text.split(maxsplit=2)
    if len(parts) < 2:
        raise EventError("use: {usage}", usage=EDIT_USAGE)
    if not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 12:
        raise EventError(
            "'{text}' is not an event number (see !events). Use: {usage}", text=parts[0], usage=EDIT_USAGE
        )
    field = parts[1].lower()
    if field not in FIELDS:
        raise EventError(
            "'{text}' is not a field: use one of {fields}", text=parts[1], fields=", ".join(FIELDS)
        )
    raw = parts[2] if len(parts) > 2 else ""
    value: str | datetime | bool | None
    if field == "title":
        value = check_text("title", raw, MAX_TITLE)
    elif field == "where":
        value = None if raw.strip().lower() == "none" else check_text("place", raw, MAX_PLACE)
    elif field == "private":
        if raw.strip().lower() not in _ON_OFF:
            raise EventError("private takes on or off")
        value = _ON_OFF[raw.strip().lower()]
    elif field == "until" and raw.strip().lower() == "none":
        value = None
    else:
        value = _time(" ".join(raw.split()), zone) if raw.strip() else None
        if value is None:
            raise EventError("{field} needs a time: YYYY-MM-DD HH:MM [zone]", field=field)
    return EventEdit(int(parts[0]), field, value)


def check_reason(text: str | None) -> str | None:
    """A cancellation's reason, public like the rest (None when none was given)."""
    if text is None or not text.strip():
        return None
    return check_text("reason", text, MAX_REASON)
