"""``!offer``, ``!ask``, ``!skills``, ``!skills withdraw`` and the consent of a match (``!swap``).

When an ask meets an offer, both people are asked by direct message; each learns the other's
name only when both said yes, and a no (or silence until the match expires) shares nothing.
Every check runs before anything is written, so a refused command changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Metavar, Words
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.i18n import _, ngettext
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message, Span
from bots.skills import render
from bots.skills.base import SkillsBase, log
from bots.skills.store import StoredMatch
from protocols.skills import (
    DECLINED,
    INTRODUCE,
    MAX_OPEN_ENTRIES,
    WAITING,
    Kind,
    answer,
    board,
    check_note,
    matches_for,
    skill_and_note,
    suggestions,
)

Note = Annotated[Words, Metavar("note")]


class BoardPart(SkillsBase):
    # -- asks and offers ----------------------------------------------------------------------

    @command(
        "offer",
        help="Offer a skill (one word, or words joined by hyphens: first-aid), with an optional note",
        where="room",
    )
    async def offer(self, ctx: CommandContext, skill: str, note: Note | None = None) -> None:
        await self._post(ctx, "offer", skill, note)

    @command(
        "ask",
        help="Ask for a skill (one word, or words joined by hyphens: first-aid), with an optional note",
        where="room",
    )
    async def ask(self, ctx: CommandContext, skill: str, note: Note | None = None) -> None:
        await self._post(ctx, "ask", skill, note)

    async def _post(self, ctx: CommandContext, kind: Kind, typed: str, note_text: str | None) -> None:
        known = await self.known.of(ctx.room_id)
        tag, note_text = skill_and_note(typed, note_text, known)
        note = check_note(note_text)
        if await self.entries.count_of(ctx.room_id, ctx.sender, ctx.now) >= MAX_OPEN_ENTRIES:
            raise UserError(
                _(
                    "You have {n} open entries here: withdraw one (!skills) first. Nothing was kept.",
                    n=MAX_OPEN_ENTRIES,
                )
            )
        close = [] if tag in known else suggestions(tag, known)
        until = ctx.now + self.config.entry_ttl
        async with self.host.db.transaction():
            entry = await self.entries.add(ctx.room_id, kind, tag, ctx.sender, note, ctx.now, until)
            await self.known.touch(ctx.room_id, tag, ctx.now)
            others = await self.entries.open(ctx.room_id, ctx.now, tag)
            pairs = matches_for(entry, others, await self.matches.pairs(ctx.room_id), ctx.now)
            made: list[StoredMatch] = []
            for ask_entry, offer_entry in pairs:
                until_answered = ctx.now + self.config.match_ttl
                stored = await self.matches.add(ctx.room_id, ask_entry, offer_entry, ctx.now, until_answered)
                if stored is not None:
                    made.append(stored)
        await ctx.reply(render.posted(entry, self.config.entry_ttl, len(made), close))
        for stored in made:  # a crash before this: start() asks what is still owed
            await self.settle(stored)
        if made:
            log.info("skills: an entry met %d others", len(made))

    async def settle(self, stored: StoredMatch) -> None:
        """Send what a match owes: the question to both sides, then (once decided) the outcome:
        introductions after two yeses, "did not go ahead" after a no to whoever did not say it.
        Each message has a stable key, and the match records what was sent, so a crash in
        between sends each message once (``start`` settles what is still owed)."""
        match = stored.match
        room_id = RoomID(stored.room_id)
        room_name = await self._room_name(room_id)
        if not stored.asked:
            ask_note = await self._note(stored.ask_id)
            offer_note = await self._note(stored.offer_id)
            for user, side, note in (
                (match.asker, "asker", offer_note),
                (match.offerer, "offerer", ask_note),
            ):
                message = render.ask_consent(match, side, room_name, note, self.config.match_ttl)
                await self._dm(user, message, key(self.name, "match", match.id, side), room_id)
            await self.matches.mark(match.id, asked=True)
        if stored.told or match.outcome == WAITING:
            return
        if match.outcome == INTRODUCE:
            for user in (match.asker, match.offerer):
                intro = render.introduce(match, match.other(user), room_name, user == match.asker)
                await self._dm(user, intro, key(self.name, "intro", match.id, user), room_id)
            log.info("skills: a match introduced")
        else:
            for user, said in ((match.asker, match.asker_yes), (match.offerer, match.offerer_yes)):
                if said is not False:
                    await self._dm(
                        user, render.not_going_ahead(match), key(self.name, "off", match.id, user), room_id
                    )
        await self.matches.mark(match.id, told=True)

    async def _note(self, entry_id: int) -> str | None:
        found = await self.entries.get(entry_id)
        return None if found is None else found[1].note

    async def _dm(self, user: str, message: Message, k: str, room_id: RoomID) -> None:
        """Write to ``user`` in the skill swap's direct chat (a new one in ``room_id``'s language)."""
        try:
            await self.host.post(await self.dm_room(user, room_id), message, k)
        except MatrixError as exc:  # a person the bot cannot reach: the match waits, then expires
            log.warning("skills: could not open a direct chat (%s)", exc.errcode)

    async def _room_name(self, room_id: RoomID) -> str | Span:
        """The group room's name for a match's messages; unnamed or unreadable, a phrase in the
        direct chat's language."""
        try:
            name = await self.host.room_name(room_id)
        except MatrixError:
            name = None
        return name or _("your group's room")

    # -- the board ----------------------------------------------------------------------------

    @command(
        "skills", help="The board: skills offered and asked, by count, with the newest notes", where="room"
    )
    async def show(self, ctx: CommandContext) -> None:
        open_ = await self.entries.open(ctx.room_id, ctx.now)
        confirming = await self.requirements.confirming(ctx.room_id)
        await ctx.reply(
            render.board(
                board(open_, ctx.now),
                open_,
                [e for e in open_ if e.user == ctx.sender],
                await self.held.counts(ctx.room_id, confirming),
                await self.known.of(ctx.room_id),
                await self.host.settings.zone(ctx.room_id),
            )
        )

    @command("skills withdraw", help="Take your ask or offer off the board", where="room")
    async def withdraw(self, ctx: CommandContext, entry: int) -> None:
        found = await self.entries.get(entry)
        if found is None or found[0] != ctx.room_id or not found[1].open(ctx.now):
            raise UserError(_("There is no open entry #{id} here: !skills lists yours.", id=str(entry)))
        if found[1].user != ctx.sender:
            raise UserError(_("Entry #{id} is not yours: only who posted it withdraws it.", id=str(entry)))
        async with self.host.db.transaction():
            await self.entries.delete(entry)
            await self.matches.forget_entry(entry)
        await ctx.reply(render.withdrawn(entry, found[1].kind, found[1].skill))

    # -- consent ------------------------------------------------------------------------------

    @command("swap yes", help="Agree to be put in touch for a match (in our direct chat)")
    async def swap_yes(self, ctx: CommandContext, match: int) -> None:
        await self._answer(ctx, match, True)

    @command("swap no", help="Decline a match: nobody learns your name")
    async def swap_no(self, ctx: CommandContext, match: int) -> None:
        await self._answer(ctx, match, False)

    async def _answer(self, ctx: CommandContext, match_id: int, yes: bool) -> None:
        if not ctx.is_direct:
            raise UserError(
                _("Answer a match in our direct chat, where I asked you: nothing was recorded here.")
            )
        stored = await self.matches.get(match_id, ctx.now)
        if stored is None or ctx.sender not in (stored.match.asker, stored.match.offerer):
            days = self.config.match_ttl.days
            raise UserError(
                ngettext(
                    "There is no open match {id} for you (a match waits {n} day).",
                    "There is no open match {id} for you (a match waits {n} days).",
                    days,
                    id=str(match_id),
                )
            )
        updated = answer(stored.match, ctx.sender, yes)
        await self.matches.save_answers(updated)
        if updated.outcome == DECLINED:
            await ctx.reply(render.declined(updated))
        elif updated.outcome == WAITING:
            await ctx.reply(render.waiting(updated))
        await self.settle(replace(stored, match=updated))
