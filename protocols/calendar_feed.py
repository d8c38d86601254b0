"""The public calendar as RFC 5545 text, through the icalendar library, and followed feeds read back.

Calendar apps that subscribe poll the feed and match events by UID: a stable UID per event, and
SEQUENCE and LAST-MODIFIED that grow on each edit, make a rescheduled action move in people's
calendars instead of doubling; a cancelled one stays in the feed as STATUS:CANCELLED for a while,
so subscribed calendars remove it. Times carry their zone (TZID with its VTIMEZONE), so an
action at 18:00 in Paris stays at 18:00 in Paris across a change of summer time.

The output is a pure function of the events and the feed's words (:class:`FeedWords`, which the
bot gives in the calendar's language): the same events give the same bytes (DTSTAMP is the
event's last change, not the time of writing), so an unchanged feed keeps its ETag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from protocols.calendar_events import MAX_PLACE, MAX_TITLE, scrub
from protocols.errors import RuleError

PRIVATE_PLACE = "Place shared with participants"
MEMBER_GROUP = "a member group"  # the holder of an event whose room keeps its name off the calendar
# Marks an event this feed took from a followed one: a feed that follows ours does not take it
# again, so two coalitions that follow each other do not echo events back and forth.
SECONDHAND = "X-AFFINITY-SOURCE"
PRODID = "-//Affinity//public coalition calendar//EN"
_FIELD = re.compile(r"\{(\w+)\}")


class FeedError(RuleError):
    """A followed address did not give a calendar; the message says what it gave."""


@dataclass(frozen=True)
class FeedEvent:
    """One event as the feed and the page show it. Times are UTC; ``zone`` is where it happens."""

    uid: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    zone: str
    place: str | None
    private: bool
    sequence: int
    created_at: datetime
    modified_at: datetime
    cancelled: bool = False
    reason: str | None = None
    holder: str = MEMBER_GROUP  # which local group holds it, by its public name
    source: str | None = None  # the followed calendar it came from (None: this coalition's own)


@dataclass(frozen=True)
class FeedWords:
    """The words the feed and the page write themselves, English by default; the bot passes
    them in the calendar's language (``features.calendar.language``). A template's ``{field}``
    is replaced by its value (nothing else in it is read as a placeholder)."""

    calendar: str = "{name} coalition calendar"
    held: str = "Held by {holder}."
    listed: str = "Listed by {source}."
    cancelled: str = "Cancelled."
    cancelled_because: str = "Cancelled: {reason}"
    private_place: str = PRIVATE_PLACE
    member_group: str = MEMBER_GROUP

    def holder(self, event: FeedEvent) -> str:
        """Who holds ``event``, as the public reads it."""
        return self.member_group if event.source is None and event.holder == MEMBER_GROUP else event.holder


ENGLISH = FeedWords()


def fill(template: str, **values: str) -> str:
    """``template`` with each ``{field}`` of ``values`` replaced, in one pass (a value is not
    read again, and a brace the template holds otherwise stays as it is)."""
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(UTC if zone == "UTC" else zone_of(zone))


def shown_place(event: FeedEvent, words: FeedWords = ENGLISH) -> str | None:
    """The place as the public sees it: a private place is for members only."""
    if event.private:
        return words.private_place
    return event.place


def _description(event: FeedEvent, words: FeedWords) -> str:
    lines = [
        fill(words.listed, source=event.source)
        if event.source
        else fill(words.held, holder=words.holder(event))
    ]
    if event.cancelled:
        lines.append(fill(words.cancelled_because, reason=event.reason) if event.reason else words.cancelled)
    return "\n".join(lines)


def _vevent(event: FeedEvent, words: FeedWords) -> bytes:
    entry = icalendar.Event()
    entry.add("uid", event.uid)
    entry.add("dtstamp", event.modified_at.astimezone(UTC))
    entry.add("created", event.created_at.astimezone(UTC))
    entry.add("last-modified", event.modified_at.astimezone(UTC))
    entry.add("sequence", event.sequence)
    entry.add("dtstart", _local(event.starts_at, event.zone))
    if event.ends_at is not None:
        entry.add("dtend", _local(event.ends_at, event.zone))
    entry.add("summary", event.title)
    place = shown_place(event, words)
    if place:
        entry.add("location", place)
    entry.add("description", _description(event, words))
    entry.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    entry.add("transp", "TRANSPARENT" if event.cancelled else "OPAQUE")
    if event.source:
        entry.add(SECONDHAND, event.source)
    return bytes(entry.to_ical())


def _vtimezone(zone: str) -> bytes:
    """The VTIMEZONE the library writes for ``zone`` (through a calendar that needs it)."""
    cal = icalendar.Calendar()
    probe = icalendar.Event()
    probe.add("dtstart", datetime(2000, 1, 1, tzinfo=zone_of(zone)))
    cal.add_component(probe)
    cal.add_missing_timezones()
    return b"".join(bytes(tz.to_ical()) for tz in cal.timezones)


@dataclass
class FeedCache:
    """Serialised pieces kept from one build to the next: a VEVENT per event (a FeedEvent is
    frozen, so an unchanged event is the same key) and a VTIMEZONE per zone. Rebuilding a feed
    of 1,000 events after one edit then serialises one event, not 1,000. Only what the last
    build used is kept, and only for the words it was built with."""

    events: dict[FeedEvent, bytes] = field(default_factory=dict)
    zones: dict[str, bytes] = field(default_factory=dict)
    words: FeedWords = ENGLISH


def build_feed(
    name: str,
    events: Iterable[FeedEvent],
    refresh: timedelta = timedelta(hours=1),
    cache: FeedCache | None = None,
    words: FeedWords = ENGLISH,
) -> bytes:
    """The feed for a coalition named ``name``: every event given, by start time, cancelled ones
    as STATUS:CANCELLED, each zone's VTIMEZONE first, its own words in ``words``. Nothing in it
    names a person, a room or a member's homeserver. The same events give the same bytes, with
    or without ``cache``."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", fill(words.calendar, name=name))
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", refresh)
    head = bytes(cal.to_ical())
    end = b"END:VCALENDAR\r\n"
    assert head.endswith(end)
    ordered = sorted(events, key=lambda e: (e.starts_at, e.uid))
    old = cache if cache is not None and cache.words == words else FeedCache()
    kept = FeedCache(words=words)
    parts = [head[: -len(end)]]
    for zone in sorted({e.zone for e in ordered} - {"UTC"}):
        kept.zones[zone] = old.zones.get(zone) or _vtimezone(zone)
        parts.append(kept.zones[zone])
    for event in ordered:
        kept.events[event] = old.events.get(event) or _vevent(event, words)
        parts.append(kept.events[event])
    parts.append(end)
    if cache is not None:
        cache.events, cache.zones, cache.words = kept.events, kept.zones, words
    return b"".join(parts)


def _instant(value: object) -> tuple[datetime, str] | None:
    """A DTSTART/DTEND value as UTC and the zone it was written in; a date is midnight UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC), "UTC"
        key = getattr(value.tzinfo, "key", None)
        return value.astimezone(UTC), key if isinstance(key, str) else "UTC"
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), "UTC"
    return None


def _text(component: icalendar.cal.Component, key: str, limit: int) -> str | None:
    value = component.get(key)
    if value is None:
        return None
    line = scrub(" ".join(str(value).split()))[:limit]
    return line or None


def parse_followed(
    data: bytes, label: str, *, max_events: int, own_uids: Sequence[str] = ()
) -> list[FeedEvent]:
    """The events of a followed feed, labelled with ``label``: only first-hand ones (not those
    it took from yet another feed, nor ours), at most ``max_events``; any Matrix id in their
    text is hidden. A body that is not an iCalendar with events is a :class:`FeedError`."""
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as exc:
        raise FeedError("that address did not give an iCalendar feed (text/calendar)") from exc
    if not calendars or not all(c.name == "VCALENDAR" for c in calendars):
        raise FeedError("that address did not give an iCalendar feed (no VCALENDAR)")
    mine = set(own_uids)
    found: list[FeedEvent] = []
    for cal in calendars:
        for component in cal.walk("VEVENT"):
            uid = str(component.get("uid") or "").strip()
            start = _instant(getattr(component.get("dtstart"), "dt", None))
            if not uid or start is None or uid in mine or component.get(SECONDHAND) is not None:
                continue
            end = _instant(getattr(component.get("dtend"), "dt", None))
            stamp = _instant(getattr(component.get("last-modified") or component.get("dtstamp"), "dt", None))
            changed = stamp[0] if stamp else start[0]
            try:
                sequence = int(component.get("sequence", 0))
            except (TypeError, ValueError):
                sequence = 0
            status = str(component.get("status", "")).upper()
            found.append(
                FeedEvent(
                    uid=uid[:255],
                    title=_text(component, "summary", MAX_TITLE) or "(untitled)",
                    starts_at=start[0],
                    ends_at=end[0] if end and end[0] > start[0] else None,
                    zone=start[1],
                    place=_text(component, "location", MAX_PLACE),
                    private=False,
                    sequence=max(0, sequence),
                    created_at=changed,
                    modified_at=changed,
                    cancelled=status == "CANCELLED",
                    holder=label,
                    source=label,
                )
            )
            if len(found) > max_events:
                raise FeedError("that feed lists more than {n} events; follow a smaller one", n=max_events)
    return found  # an empty calendar is a calendar: following it is not an error


def calendar_name(data: bytes) -> str | None:
    """The X-WR-CALNAME a feed gives itself, if any (its label when followed)."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
        return None
    name = cal.get("x-wr-calname")
    text = scrub(" ".join(str(name).split()))[:80] if name is not None else ""
    return text or None
