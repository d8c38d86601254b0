"""The coalition's public calendar (docs/calendar.md): events, a subscribable feed and a page."""

from bots.calendar.feature import CalendarFeature

__all__ = ["CalendarFeature"]
