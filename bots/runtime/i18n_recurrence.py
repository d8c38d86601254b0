"""A recurrence or a gathering's schedule described back to people in the language being
rendered: ``every tuesday at 19:00`` in English (as protocols/recurrence_grammar.py's
``describe`` writes it, the words people type), ``co tydzień, wtorek o 19:00`` in Polish.
Commands still take the English words; only the description is translated. What is stored
stays ``describe``'s English."""

from __future__ import annotations

from dataclasses import dataclass

from babel.dates import get_day_names

from bots.runtime.i18n import DEFAULT, _, current, ngettext, when
from bots.runtime.message import Inline, Span, escape
from protocols.recurrence_types import (
    LAST,
    AfterGathering,
    Daily,
    Frequent,
    MonthlyOnDay,
    MonthlyOnWeekday,
    Recurrence,
    WeeklyOn,
)
from protocols.schedule import Once, Recurring, Schedule, format_hhmm, weekday_name


@dataclass(frozen=True)
class _Weekday(Span):
    weekday: int  # 0 = Monday

    def plain(self) -> str:
        language = current().language
        if language == DEFAULT:
            return weekday_name(self.weekday)
        return str(get_day_names("wide", locale=language)[self.weekday])

    def html(self) -> str:
        return escape(self.plain())


@dataclass(frozen=True)
class _Ordinal(Span):
    number: int

    def plain(self) -> str:
        language = current().language
        if language == DEFAULT:
            n = self.number
            suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            return f"{n}{suffix}"
        return f"{self.number}" if language == "es" else f"{self.number}."

    def html(self) -> str:
        return escape(self.plain())


def weekday(day: int) -> Span:
    """A weekday's name in the language being rendered (English: ``tuesday``)."""
    return _Weekday(day)


def recurrence(r: Recurrence) -> Inline:
    """``r`` described in the language being rendered."""
    text = _pattern(r)
    if r.at is not None:
        text = _("{recurrence} at {time}", recurrence=text, time=f"{r.at.hour:02d}:{r.at.minute:02d}")
    if r.until is not None:
        text = _("{recurrence} until {date}", recurrence=text, date=r.until.isoformat())
    return text


def _pattern(r: Recurrence) -> Inline:
    p = r.pattern
    if isinstance(p, AfterGathering):
        return _("after each gathering")
    if isinstance(p, Frequent):
        if p.unit == "minute":
            return ngettext("every minute", "every {n} minutes", p.interval)
        return ngettext("every second", "every {n} seconds", p.interval)
    if isinstance(p, Daily):
        return ngettext("every day", "every {n} days", p.interval)
    if isinstance(p, WeeklyOn):
        if p.interval == 1:
            return _("every {weekday}", weekday=weekday(p.weekday))
        return ngettext(
            "every {n} week on {weekday}",
            "every {n} weeks on {weekday}",
            p.interval,
            weekday=weekday(p.weekday),
        )
    if isinstance(p, MonthlyOnDay):
        if p.day == LAST:
            return ngettext("every month on the last day", "every {n} months on the last day", p.interval)
        return ngettext(
            "every month on the {day}", "every {n} months on the {day}", p.interval, day=_Ordinal(p.day)
        )
    assert isinstance(p, MonthlyOnWeekday)
    if p.nth == LAST:
        return ngettext(
            "every month on the last {weekday}",
            "every {n} months on the last {weekday}",
            p.interval,
            weekday=weekday(p.weekday),
        )
    return ngettext(
        "every month on the {nth} {weekday}",
        "every {n} months on the {nth} {weekday}",
        p.interval,
        nth=_Ordinal(p.nth),
        weekday=weekday(p.weekday),
    )


def schedule(s: Schedule) -> Inline:
    """A gathering's schedule (``every tuesday 19:00 Europe/Paris until 2026-09-30``, ``once,
    2026-05-01 18:00 CEST``) in the language being rendered."""
    if isinstance(s, Once):
        return _("once, {when}", when=when(s.at, s.zone))
    if isinstance(s, Recurring):
        return _("{recurrence} {zone}", recurrence=recurrence(s.recurrence), zone=s.recurrence.zone.key)
    text: Inline = _(
        "every {weekday} {time} {zone}", weekday=weekday(s.weekday), time=format_hhmm(s.at), zone=s.zone.key
    )
    if s.end_date is not None:
        text = _("{recurrence} until {date}", recurrence=text, date=s.end_date.isoformat())
    return text
