"""The skill-swap board's settings: ``features.skills`` in the operator's config."""

from __future__ import annotations

from datetime import timedelta

from pydantic import field_validator

from bots.config import Strict
from protocols.skills import DEFAULT_ENTRY_TTL, check_ttl


class SkillsConfig(Strict):
    # How long an ask or an offer stays on the board (1 day to 90 days).
    entry_ttl: timedelta = DEFAULT_ENTRY_TTL
    # How long a match waits for both answers; then it is forgotten and nobody is introduced.
    match_ttl: timedelta = timedelta(days=7)
    # How long "!learned <skill>" counts (typing it again renews it).
    held_ttl: timedelta = timedelta(days=365)
    # The direct chats in which matches are asked are encrypted.
    encrypt_dms: bool = True

    @field_validator("entry_ttl")
    @classmethod
    def _entry_ttl(cls, value: timedelta) -> timedelta:
        return check_ttl(value)

    @field_validator("match_ttl", "held_ttl")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1):
            raise ValueError("at least 1h")
        return value
