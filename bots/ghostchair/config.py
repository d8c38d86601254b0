"""``features.ghostchair`` in the YAML: the ghost chair's settings (unknown keys are refused)."""

from __future__ import annotations

from datetime import timedelta

from bots.config import Strict, ZoneName


class GhostChairConfig(Strict):
    # A room's absent voices before it changes its list (None: the built-in set).
    default_voices: list[str] | None = None
    # The zone of a room that never set one (``!gathering zone``) and names none.
    default_timezone: ZoneName = "UTC"
    # A step of a gathering that fell due while the bot was down is posted this late (marked
    # so); later than that it is noted as missed, or skipped (a heads-up, a care check-in).
    misfire_grace: timedelta = timedelta(hours=1)
