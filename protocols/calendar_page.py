"""The public page's content, before any HTML: the coalition's upcoming actions grouped by date.

Each action shows its time in its own zone (an action in Lyon at 18:00 reads 18:00, whoever
reads the page), its place or "Place shared with participants", and which local group holds
it. Cancelled and past actions are not on the page (the feed keeps a cancelled one a while so
calendars remove it). The words the page writes itself ("Place shared with participants", "a
member group") come in the calendar's language (:class:`FeedWords`); so do the day headings and
a range that ends on another day, which the renderer formats from ``starts``/``ends``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from protocols.calendar_feed import ENGLISH, MEMBER_GROUP, FeedEvent, FeedWords, shown_place, zone_of

__all__ = ["MEMBER_GROUP", "PageDay", "PageItem", "page_days", "upcoming"]


@dataclass(frozen=True)
class PageItem:
    time: str  # a range in the zone of the event, e.g. 18:00 to 20:00
    zone: str  # "Europe/Paris"
    title: str
    place: str | None
    holder: str  # the local group, "a member group", or the followed calendar's name
    followed: bool
    iso_start: str  # for <time datetime=...>
    starts: datetime | None = None  # the start and end in the event's zone (other languages
    ends: datetime | None = None  # format the range from these; English reads ``time``)


@dataclass(frozen=True)
class PageDay:
    day: date
    heading: str  # "Monday 30 November 2026"
    items: tuple[PageItem, ...]


def _heading(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _time(event: FeedEvent) -> tuple[date, str]:
    zone = zone_of(event.zone)
    start = event.starts_at.astimezone(zone)
    text = f"{start:%H:%M}"
    if event.ends_at is not None:
        end = event.ends_at.astimezone(zone)
        text += f"–{end:%H:%M}" if end.date() == start.date() else f" – {end.day} {end:%b %H:%M}"
    return start.date(), text


def upcoming(events: Iterable[FeedEvent], now: datetime) -> list[FeedEvent]:
    """What the page lists: not cancelled, not over yet, by start."""
    return sorted(
        (e for e in events if not e.cancelled and (e.ends_at or e.starts_at) >= now),
        key=lambda e: (e.starts_at, e.title, e.uid),
    )


def page_days(events: Iterable[FeedEvent], now: datetime, words: FeedWords = ENGLISH) -> list[PageDay]:
    """The page's days in order, each with its actions in order of start."""
    by_day: dict[date, list[PageItem]] = {}
    for event in upcoming(events, now):
        day, time = _time(event)
        zone = zone_of(event.zone)
        by_day.setdefault(day, []).append(
            PageItem(
                time=time,
                zone=event.zone,
                title=event.title,
                place=shown_place(event, words),
                holder=words.holder(event),
                followed=event.source is not None,
                iso_start=event.starts_at.astimezone(zone).isoformat(),
                starts=event.starts_at.astimezone(zone),
                ends=event.ends_at.astimezone(zone) if event.ends_at is not None else None,
            )
        )
    return [PageDay(day, _heading(day), tuple(items)) for day, items in sorted(by_day.items())]
