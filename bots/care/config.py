"""``features.care`` in the YAML: care rotas, handovers and scheduled reshuffles (unknown keys
are refused, durations need a unit)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bots.config import Strict, ZoneName


class CareConfig(Strict):
    # The zone of a room that never set one (the room settings, shared with gatherings).
    default_timezone: ZoneName = "UTC"
    # Each holder is reminded by DM this long before their turn.
    remind_before: timedelta = timedelta(days=1)
    # A turn still offered, or short of people, this long before it is flagged to the room.
    flag_before: timedelta = timedelta(days=2)
    # How many turns are given (and shown) ahead.
    turns_ahead: int = Field(default=4, ge=1, le=12)
    # A turn that fell due while the bot was down is announced this late (marked so); older
    # ones go into one note.
    misfire_grace: timedelta = timedelta(hours=1)
    # Who did which turn is kept this long, then only counts per member remain.
    turn_history: timedelta = timedelta(days=60)
    # Swap requests and DM reminders are deleted (and redacted) after this at the latest.
    swap_requests: timedelta = timedelta(days=14)
    reminders: timedelta = timedelta(days=7)
    # For tests and demos only: "every 10 seconds" and "every 2 minutes" are read as
    # recurrences. People need days.
    short_units: bool = False
    # Handovers: a mandate's holder is asked by DM for a note this long before it ends (or
    # at once for a shorter mandate); the bot looks at the lottery's mandates this often; an
    # undelivered note is deleted after ``handover_notes``.
    handover_ask_before: timedelta = timedelta(days=1)
    handover_check: timedelta = timedelta(minutes=1)
    handover_notes: timedelta = timedelta(days=14)
