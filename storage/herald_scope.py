"""The herald's repositories each hold one bot's rows: the scope they share."""

from __future__ import annotations

from typing import Any

from storage.db import Database


class _Scoped:
    """A repository of one bot's rows (``bot`` is its user id). ``bot=None`` reads and forgets
    every bot's rows, which only ``affinity forget`` does; writes then go to the bot ''."""

    def __init__(self, db: Database, bot: str | None = None) -> None:
        self._db = db
        self._every = bot is None
        self._bot = bot or ""

    def _only(self, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """`` AND bot = ?`` and its parameter, or nothing for every bot."""
        if self._every:
            return "", ()
        return f" AND {alias}bot = ?", (self._bot,)
