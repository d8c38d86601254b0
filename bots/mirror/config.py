"""``features.mirror`` in the YAML: the blind mirror's settings (unknown keys are refused)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from bots.config import Strict, ZoneName


class MirrorConfig(Strict):
    default_close_after: timedelta = timedelta(days=3)
    default_min_submissions: int = Field(default=3, ge=3)
    release_delay_min: timedelta = timedelta(seconds=30)
    release_delay_max: timedelta = timedelta(minutes=10)
    require_encrypted_dm: bool = True
    # Close times are shown in the room's own zone (room settings); rooms that set none see
    # them in this zone.
    display_timezone: ZoneName = "UTC"
    # An unfinished draft (held in memory only) is discarded after this long without a reply.
    draft_idle: timedelta = timedelta(hours=2)

    @model_validator(mode="after")
    def _delay_range(self) -> MirrorConfig:
        if self.release_delay_max < self.release_delay_min:
            raise ValueError("release_delay_max must not be shorter than release_delay_min")
        return self
