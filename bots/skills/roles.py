"""Skills that open roles: ``!learned``, ``!skills confirm``, ``!roles require``,
``!roles unrequire``, ``!roles confirm-skills``, and what the lottery asks before a draw
(:meth:`RolesPart.role_pools`: who may be drawn for each role that requires a skill).

The lottery owns the roles; this part owns which skill a role needs and who holds it. The
lottery reaches it through ``host.peer`` and passes the answer into its pure draw as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Metavar, OnOff, UserRef, Words
from bots.runtime.errors import UserError
from bots.runtime.i18n import _, ngettext
from bots.runtime.ids import RoomID
from bots.runtime.message import Inline, Message
from bots.skills import render
from bots.skills.board import BoardPart
from protocols.lottery_room import ROLE_PATTERN
from protocols.skills import Teachers, role_pools

# A skill of one word or several ("first aid"): it is normalised to one tag either way.
SkillWords = Annotated[Words, Metavar("skill")]


class RolesPart(BoardPart):
    # -- holding a skill ----------------------------------------------------------------------

    @command("learned", help="Record that you hold a skill now (after a swap or a training)", where="room")
    async def learned(self, ctx: CommandContext, skill: SkillWords) -> None:
        tag = self.skill_of(skill)
        confirming = await self.requirements.confirming(ctx.room_id)
        async with self.host.db.transaction():
            is_new = await self.held.learn(ctx.room_id, ctx.sender, tag, ctx.now)
            await self.known.touch(ctx.room_id, tag, ctx.now)
        await ctx.reply(render.learned(tag, confirming, is_new, self.config.held_ttl))

    @command("skills confirm", help="Confirm that a member holds a skill", power="moderator", where="room")
    async def confirm(self, ctx: CommandContext, user: UserRef, skill: SkillWords) -> None:
        tag = self.skill_of(skill)
        if not await self.held.confirm(ctx.room_id, user, tag, ctx.sender):
            raise UserError(
                _(
                    "{user} has not recorded {skill} here: they type !learned {skill} first. Nothing changed.",
                    user=user,
                    skill=tag,
                )
            )
        await ctx.reply(Message.of(_("Confirmed: {user} holds {skill}.", user=user, skill=tag)))

    # -- roles that need a skill ----------------------------------------------------------------

    @command(
        "roles require",
        help="Draw a role only among members who hold a skill",
        power="moderator",
        where="room",
    )
    async def require(self, ctx: CommandContext, role: str, skill: SkillWords) -> None:
        name = await self._known_role(ctx.room_id, role)
        tag = self.skill_of(skill)
        confirming = await self.requirements.confirming(ctx.room_id)
        async with self.host.db.transaction():
            await self.requirements.set(ctx.room_id, name, tag, ctx.now)
            await self.known.touch(ctx.room_id, tag, ctx.now)
        holders = await self.held.holders(ctx.room_id, tag, confirming)
        teachers = await self.teachers(ctx.room_id, tag)
        await ctx.reply(render.requirement(name, tag, len(holders), _names(teachers), ctx.now))

    @command(
        "roles unrequire",
        help="Let the whole pool be drawn for a role again",
        power="moderator",
        where="room",
    )
    async def unrequire(self, ctx: CommandContext, role: str) -> None:
        name = role.strip().lower()
        if not await self.requirements.clear(ctx.room_id, name):
            raise UserError(_("{role} requires no skill here. Nothing changed.", role=name))
        await ctx.reply(Message.of(_("{role} is drawn among the whole pool again.", role=name)))

    @command(
        "roles confirm-skills",
        help="on: a skill opens roles only once a moderator confirms it; off: !learned is enough",
        power="moderator",
        where="room",
    )
    async def confirm_skills(self, ctx: CommandContext, on_off: OnOff) -> None:
        await self.requirements.set_confirming(ctx.room_id, on_off, ctx.now)
        if on_off:
            pending = await self.held.unconfirmed(ctx.room_id)
            text: list[Inline] = [
                _(
                    "From now on a skill opens roles once a moderator confirms it with !skills confirm <user> <skill>."
                )
            ]
            if pending:
                text += [
                    " ",
                    ngettext(
                        "{n} recorded skill awaits confirmation.",
                        "{n} recorded skills await confirmation.",
                        len(pending),
                    ),
                ]
            await ctx.reply(Message.of(*text))
        else:
            await ctx.reply(Message.of(_("From now on !learned is enough for a skill to open roles.")))

    async def _known_role(self, room_id: RoomID, typed: str) -> str:
        name = typed.strip().lower()
        from bots.lottery.feature import LotteryFeature  # the lottery imports this feature

        lottery = self.host.peer(LotteryFeature)
        if lottery is not None:
            roles = (await lottery.rooms.setup(room_id)).roles
            if name not in roles:
                raise UserError(
                    _("'{typed}' is not a role here. Roles: {roles}.", typed=typed, roles=", ".join(roles))
                    if roles
                    else _("'{typed}' is not a role here. Roles: none yet.", typed=typed)
                )
        elif not ROLE_PATTERN.match(name):
            raise UserError(_("'{typed}' is not a role name.", typed=typed))
        return name

    # -- what the lottery asks ------------------------------------------------------------------

    async def teachers(self, room_id: str, skill: str) -> Teachers:
        """Who could teach ``skill``: members who hold it (confirmed or not) and open offers."""
        now = self.host.clock()
        holders = await self.held.holders(room_id, skill, confirmed_only=False)
        offers = [e.user for e in await self.entries.open(room_id, now, skill) if e.kind == "offer"]
        return Teachers(tuple(holders), tuple(sorted(set(offers))))

    async def role_pools(
        self, room_id: str, roles: Sequence[str], pool: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """role -> the pool members who hold the skill it requires (only roles that require
        one). A :class:`~protocols.skills.SkillError` if a role's pool would be empty: it says
        who could teach the skill, and the caller draws nothing."""
        required = {r: s for r, s in (await self.requirements.of(room_id)).items() if r in roles}
        if not required:
            return {}
        confirming = await self.requirements.confirming(room_id)
        holders = {s: await self.held.holders(room_id, s, confirming) for s in set(required.values())}
        teachers = {s: await self.teachers(room_id, s) for s in set(required.values())}
        return role_pools(pool, roles, required, holders, teachers)


def _names(teachers: Teachers) -> list[str]:
    return sorted(set(teachers.holders) | set(teachers.offerers))
