"""The skill-swap board, assembled: asks and offers that meet by consent, skills that open
roles, and forgetting on schedule.

Parts, each building on the last: :mod:`~bots.skills.base` (repositories, the DM room) ->
:mod:`~bots.skills.board` (``!offer``, ``!ask``, ``!skills``, ``!swap``) ->
:mod:`~bots.skills.roles` (``!learned``, ``!roles require``, what the lottery asks). Here:
retention and forgetting.

The public interface the lottery uses (through ``host.peer``): :meth:`SkillsFeature.role_pools`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from bots.runtime.errors import MatrixError
from bots.runtime.ids import RoomID
from bots.runtime.registry import register
from bots.skills.base import log
from bots.skills.roles import RolesPart
from bots.skills.store import forget_room


@register
class SkillsFeature(RolesPart):
    """Skill swap (``!offer``, ``!ask``, ``!skills``, ``!swap``, ``!learned``, ``!roles require``)."""

    migrations = Path(__file__).parent / "migrations"

    async def start(self) -> None:
        """Send what open matches still owe (a crash between deciding and telling)."""
        owed = await self.matches.owing(self.host.clock())
        for stored in owed:
            try:
                await self.settle(stored)
            except MatrixError as exc:
                log.warning("skills: a match's messages wait (%s)", exc.errcode)
        if owed:
            log.info("skills: settled %d matches owed a message", len(owed))

    def retention(self) -> Mapping[str, timedelta]:
        """Asks and offers live ``entry_ttl`` (a known skill as long after its last use); a
        match waits ``match_ttl`` for both answers; a recorded skill counts ``held_ttl``."""
        return {
            "asks and offers": self.config.entry_ttl,
            "known skills (after last use)": self.config.entry_ttl,
            "matches": self.config.match_ttl,
            "skills held": self.config.held_ttl,
        }

    async def forget_expired(self, now: datetime) -> int:
        """Delete expired entries and matches, unused known skills and old recorded skills, of
        every bot (``affinity forget`` runs without bots; age is the same rule for all). The
        board posts nothing it must take back: its replies hold no names."""
        async with self.host.db.transaction():
            deleted = (
                await self.entries.forget_expired(now)
                + await self.matches.forget_expired(now)
                + await self.known.forget_older_than(now - self.config.entry_ttl)
                + await self.held.forget_older_than(now - self.config.held_ttl)
            )
        if deleted:
            log.info("skills: forgot %d rows", deleted)
        return deleted

    async def forget_room(self, room_id: RoomID) -> None:
        deleted = await forget_room(self.host.db, self.host.user_id, room_id)
        await self.host.settings.delete(room_id, self.dm_key)
        if deleted:
            log.info("skills: out of a room, forgot %d rows", deleted)
