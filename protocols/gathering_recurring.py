"""Gatherings beyond weekly: ``!gathering repeat every 2 weeks on tuesday at 19:00 draw``.

The recurrence is :mod:`protocols.recurrence`'s grammar (every n days or weeks, monthly on a
date or the nth weekday, ``at HH:MM``, ``until YYYY-MM-DD``), then, as for any gathering, a zone
and the options (``draw``, ``remind <duration>``, ``care <duration>``). Its dates come from
``dateutil.rrule`` in the zone, DST-correct; the gathering's steps and its catching up after
downtime are the same as a weekly one's (:class:`protocols.schedule.Recurring`).

Pure: ``now`` and the room's zone are passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from protocols.gathering import (
    MAX_REMIND_BEFORE,
    GatheringSpec,
    parse_zone_and_options,
)
from protocols.ghostchair import GhostChairError
from protocols.recurrence import AfterGathering, Daily, Frequent, parse_recurrence
from protocols.schedule import Recurring, next_occurrence

_OPTION_WORDS = frozenset({"draw", "remind", "care"})
USAGE = (
    "!gathering repeat <recurrence> [zone] [draw] [remind <duration>] [care <duration>], like "
    "!gathering repeat every 2 weeks on tuesday at 19:00 draw"
)


def _looks_like_zone(word: str) -> bool:
    return "/" in word or word.upper() == "UTC"


def recurring_gathering(text: str, default_zone: ZoneInfo, now: datetime) -> GatheringSpec:
    """The words after ``!gathering repeat``, checked against ``now``."""
    words = text.split()
    cut = next(
        (i for i, w in enumerate(words) if w.lower() in _OPTION_WORDS or _looks_like_zone(w)),
        len(words),
    )
    if cut == 0:
        raise GhostChairError("Say how often first. Use {usage}.", usage=USAGE)
    extra = parse_zone_and_options(words[cut:], weekly=False)
    zone = extra.zone or default_zone
    recurrence = parse_recurrence(" ".join(words[:cut]), zone, now)
    pattern = recurrence.pattern
    if isinstance(pattern, AfterGathering | Frequent):
        raise GhostChairError(
            "A gathering needs dates of its own: say how often, like every 2 weeks on tuesday."
        )
    schedule = Recurring(recurrence)
    if next_occurrence(schedule, now) is None:
        raise GhostChairError("No gathering is left before the end date; choose a later end date.")
    remind = extra.options.remind_before
    shortest = timedelta(days=pattern.interval) if isinstance(pattern, Daily) else timedelta(days=7)
    if remind is not None and remind > min(MAX_REMIND_BEFORE, shortest - timedelta(hours=1)):
        limit = min(MAX_REMIND_BEFORE, shortest - timedelta(hours=1))
        raise GhostChairError("A reminder for this gathering can come at most {most} before.", most=limit)
    return GatheringSpec(schedule, extra.options, extra.zone is not None)
