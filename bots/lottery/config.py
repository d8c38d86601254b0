"""The lottery's settings: ``features.lottery`` in the operator's config."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bots.config import Strict


class LotteryConfig(Strict):
    default_roles: list[str] = Field(
        default_factory=lambda: ["facilitator", "timekeeper", "liaison", "care", "mediation"]
    )
    default_term: timedelta = timedelta(days=7)
    commit_window: timedelta = timedelta(seconds=30)
    redraw_on_expiry: bool = False
    # How long a room made by "!cells ... rooms" lives before the bot closes it and leaves.
    cell_room_sunset: timedelta = timedelta(days=30)
