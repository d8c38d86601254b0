"""What a run's messages say, as facts: the words are the herald's renderer's
(``bots/herald/render_phases.py``), which speaks each room's language through the message
catalogue and builds each message with ``Message`` (one escape, no hand-made HTML).

The plan (``protocols.herald.plan``) decides which room gets which message when, hands each
message's facts to a :data:`Wording` and keeps what comes back: a message's plain text and HTML
are part of the plan every herald shares, so they are rendered once, when the run is planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from protocols.herald.local import NOT_SET
from protocols.herald.templates import Phase
from protocols.timespec import format_local


@dataclass(frozen=True)
class PhaseWords:
    """One phase message to one room."""

    run_id: str
    template: str
    phase: Phase  # in the room's language, when the template has it
    message: str  # the phase's text with the room's values filled in
    checklist: tuple[str, ...]  # likewise
    late_from: datetime | None  # the phase was due then, and goes out late
    ack_by: datetime | None  # None: no acknowledgement asked
    zone: ZoneInfo
    language: str


@dataclass(frozen=True)
class UrgentWords:
    """An amendment (``amendment`` its number) or, with ``amendment`` None, a stand-down."""

    run_id: str
    template: str
    action_at: datetime
    amendment: int | None
    note: str  # the change, or the stand-down's reason ("" when none was given)
    ack_by: datetime
    zone: ZoneInfo
    language: str


class Rendered(Protocol):
    """A message as it is sent: its plain body and its HTML body."""

    @property
    def plain(self) -> str: ...

    @property
    def html(self) -> str: ...


Wording = Callable[[PhaseWords | UrgentWords], Rendered]


def format_local_in(instant: datetime, zone: ZoneInfo, _language: str) -> str:
    """An instant as the suite writes it in any language: ``2026-11-22 14:00 CET``."""
    return format_local(instant, zone)


@dataclass(frozen=True)
class VariableWords:
    """How a room's values read inside a template's text, in the room's language: the words are
    the caller's (the plan has no catalogue), for the two values that are words rather than
    the room's own text or numbers."""

    not_set: Callable[[str, str], str]  # (local detail, language) -> the visible hint to set it
    weekday: Callable[[datetime, str], str]  # (local time, language) -> the weekday's name
    when: Callable[[datetime, ZoneInfo, str], str] = format_local_in  # $when and $phase_time


ENGLISH_VARIABLES = VariableWords(
    not_set=lambda key, _language: NOT_SET.format(key=key),
    weekday=lambda local, _language: local.strftime("%A"),
)
