"""Blind-mirror drafts being written, in memory only: nothing about an author, not even that
they started writing, touches the disk before they say ``submit``."""

from __future__ import annotations

from datetime import datetime

from protocols.mirror_draft import Draft


class DraftBook:
    """Reflections being written, by user id, in memory only (see the module docstring).

    Idle drafts are dropped by :meth:`forget_older_than`, so an abandoned draft does not even
    linger in memory.
    """

    def __init__(self) -> None:
        self._drafts: dict[str, tuple[Draft, datetime]] = {}

    def get(self, user_id: str) -> Draft | None:
        entry = self._drafts.get(user_id)
        return entry[0] if entry else None

    def put(self, user_id: str, draft: Draft, now: datetime) -> None:
        """Keep (or replace) a user's draft; finished drafts are dropped instead of kept."""
        if draft.stage in ("submitted", "cancelled"):
            self._drafts.pop(user_id, None)
        else:
            self._drafts[user_id] = (draft, now)

    def discard(self, user_id: str) -> bool:
        return self._drafts.pop(user_id, None) is not None

    def discard_round(self, round_id: int) -> int:
        """Drop every draft for a round (it closed); how many were dropped."""
        users = [u for u, (d, _) in self._drafts.items() if d.round_id == round_id]
        for user in users:
            del self._drafts[user]
        return len(users)

    def forget_older_than(self, cutoff: datetime) -> int:
        """Drop drafts untouched since ``cutoff``; how many were dropped."""
        users = [u for u, (_, touched) in self._drafts.items() if touched < cutoff]
        for user in users:
            del self._drafts[user]
        return len(users)

    def __len__(self) -> int:
        return len(self._drafts)
