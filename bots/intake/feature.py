"""Intake: a day of action's short survey, by encrypted DM, seen only as counts.

``!intake start [run]`` (a moderator of a coordination room) invites every member room; a member
opts in with ``!intake me`` or a ✋ reaction on the invitation, and gets the template's questions
(at most five) one by one in an encrypted DM. ``!intake counts [run]`` shows answers as counts
per room, and for a room only once at least 3 people answered: a single answer is never shown.
Answers are stored under a random token, not the person, and are forgotten with the run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bots.config import Strict
from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import RunInfo, require_port, run_for
from bots.dayofaction.run_feature import RunFeature
from bots.intake import render, standard
from bots.intake.store import IntakeStore, Respondent
from bots.runtime import room_names
from bots.runtime.commands import CommandContext, command
from bots.runtime.direct_rooms import dm_room
from bots.runtime.errors import UserError
from bots.runtime.i18n import _
from bots.runtime.i18n_rules import said
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.runtime.registry import register
from protocols.dayofaction import intake as rules
from storage.db import Database

log = logging.getLogger(__name__)
OPT_IN = ("✋", "✋️", "👍", "✅")


class IntakeConfig(Strict):
    """``features.intake``."""

    encrypt_dms: bool = True


@register
class IntakeFeature(RunFeature[IntakeConfig, IntakeStore]):
    name = "intake"
    title = "Intake surveys"
    config_model = IntakeConfig
    migrations = Path(__file__).parent / "migrations"
    records = "survey answers, counted per room under a random token"

    def open_store(self, db: Database) -> IntakeStore:
        return IntakeStore(db)

    @command(
        "intake start",
        help="Invite every member room to the run's short survey",
        power="moderator",
        where="room",
    )
    async def intake_start(self, ctx: CommandContext, run: str | None = None) -> None:
        info = await run_for(self.host, ctx.room_id, run)
        if ctx.room_id not in info.coordination_rooms:
            raise UserError(_("An intake is started from a coordination room of the run."))
        questions = await self._questions(info)
        if not await self.store.start(info.run_id, info.forget_at):
            raise UserError(
                _("The intake of run {run} has started already; see !intake counts.", run=info.run_id)
            )
        autonomy = self.host.peer(DayOfActionFeature)
        declined = await autonomy.declined_rooms(info.run_id) if autonomy else {}
        rooms = [r for r in info.member_rooms if r not in declined]  # a declined room gets nothing more
        for room in rooms:
            invitation = render.invitation(info.run_id, len(questions))
            event = await self.host.post(
                room, invitation, key(self.name, "invite", info.run_id, room), wait=True
            )
            if event is not None:
                await self.store.add_message(room, event, info.run_id, info.forget_at, invitation=True)
        await ctx.reply(render.invited(len(rooms), info.run_id))

    @command("intake me", help="Take the run's short survey by encrypted DM", where="room")
    async def intake_me(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info = await run_for(self.host, ctx.room_id, run)
        await ctx.reply(await self._opt_in(info, ctx.room_id, ctx.sender))

    @command(
        "intake counts", help="The survey's answers as counts per room (only rooms with 3 or more answers)"
    )
    async def intake_counts(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info = await run_for(self.host, ctx.room_id, run)
        if ctx.room_id not in info.coordination_rooms:
            raise UserError(_("The survey's counts are shown in a coordination room of the run."))
        questions = await self._questions(info)
        shown, below = rules.aggregate(questions, await self.store.answers(info.run_id))
        named = [(await self.host.room_name(RoomID(rc.room)), rc) for rc in shown]
        await ctx.reply(render.counts(info.run_id, named, below))

    async def on_reaction(self, ctx: CommandContext, target: EventID, key_: str) -> None:
        if key_ not in OPT_IN or ctx.sender == self.host.user_id:
            return
        run_id = await self.store.invitation_run(ctx.room_id, target)
        if run_id is None:
            return
        info = await require_port(self.host).dayofaction_run(run_id)
        if info is None:
            return
        try:
            reply = await self._opt_in(info, ctx.room_id, ctx.sender)
        except UserError as exc:
            reply = Message.of(said(exc))
        await self.host.post(ctx.room_id, reply, key(self.name, "reaction", ctx.event_id), reply_to=target)

    async def on_message(self, ctx: CommandContext) -> bool:
        """An answer in the DM of someone taking a survey."""
        if not ctx.is_direct or ctx.body.startswith("!"):
            return False
        r = await self.store.answering_in(ctx.room_id, ctx.sender)
        if r is None:
            return False
        info = await require_port(self.host).dayofaction_run(r.run_id)
        if info is None:
            return False
        questions = await self._questions(info)
        try:
            q = questions[r.step]
            value = rules.answer(q, standard.typed(q, ctx.body))
        except rules.IntakeError as exc:
            problem = render.not_an_answer(ctx.body, q, said(exc))
            await self._dm(r, info, render.again(problem, q), ("again", ctx.event_id))
            return True
        answers = {**r.answers, questions[r.step].key: value}
        if r.step + 1 < len(questions):
            await self.store.advance(r, answers)
            await self._ask(r, info, questions, r.step + 1)
        else:
            await self.store.finish(r, answers, info.forget_at)
            log.info("intake: a survey of run %s finished", info.run_id)
            await self._dm(
                r,
                info,
                render.finished(),
                ("done",),
            )
        return True

    # -- helpers --------------------------------------------------------------------------------

    async def _questions(self, info: RunInfo) -> tuple[rules.Question, ...]:
        spec = await require_port(self.host).dayofaction_spec(info.run_id)
        if not spec.survey:
            raise UserError(_("The template of run {run} has no survey.", run=info.run_id))
        return rules.survey(spec.survey)

    async def _opt_in(self, info: RunInfo, room_id: RoomID, user: str) -> Message:
        if room_id not in info.member_rooms:
            raise UserError(_("The survey is taken from a member room of the run."))
        if not await self.store.started(info.run_id):
            raise UserError(_("The survey of run {run} has not started.", run=info.run_id))
        if await self.store.respondent(info.run_id, user) is not None:
            raise UserError(_("You have opted in to this survey already; its questions are in our DM."))
        questions = await self._questions(info)
        dm = await dm_room(
            self.host,
            user,
            title=room_names.SURVEY,
            topic=room_names.SURVEY_TOPIC,
            encrypted=self.config.encrypt_dms,
            language_room=room_id,
        )
        await self.store.opt_in(info.run_id, user, room_id, dm, info.forget_at)
        r = await self.store.respondent(info.run_id, user)
        assert r is not None
        await self._ask(r, info, questions, 0)
        return render.opted_in()

    async def _ask(
        self, r: Respondent, info: RunInfo, questions: Sequence[rules.Question], step: int
    ) -> None:
        q = questions[step]
        await self._dm(r, info, render.question(step, len(questions), q), ("ask", step))

    async def _dm(self, r: Respondent, info: RunInfo, msg: Message, parts: Sequence[object]) -> None:
        event = await self.host.post(
            RoomID(r.dm_room), msg, key(self.name, "dm", r.run_id, r.user_id, *parts), wait=True
        )
        await self.keep(r.dm_room, event, info)
