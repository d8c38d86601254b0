"""The ledger's settings: ``features.gains`` in the operator's config."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from bots.config import Strict
from protocols.gains import categories


class GainsConfig(Strict):
    # Categories beyond the shipped ones (kitchen, cooperative, media, secure-comms, space,
    # fund, care, skill, other): lower-case words, digits and -.
    categories: list[str] = Field(default_factory=list)
    # How long a gain's text is kept; its category count stays after that.
    keep_text: timedelta = timedelta(days=90)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        categories(value)  # a bad name is a ValueError naming it
        return value

    @field_validator("keep_text")
    @classmethod
    def _keep(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("at least 1m")
        return value
