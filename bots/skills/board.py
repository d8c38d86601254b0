"""``!offer``, ``!ask``, ``!skills``, ``!skills withdraw`` and the consent of a match (``!swap``).

When an ask meets an offer, both people are asked by direct message; each learns the other's
name only when both said yes, and a no (or silence until the match expires) shares nothing.
Every check runs before anything is written, so a refused command changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Metavar, Words
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.skills import render
from bots.skills.base import SkillsBase, log
from protocols.skills import (
    DECLINED,
    INTRODUCE,
    MAX_OPEN_ENTRIES,
    Kind,
    Match,
    SkillError,
    answer,
    board,
    check_note,
    matches_for,
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
        tag, note_text = self._known_prefix(typed, note_text, known)
        note = check_note(note_text)
        if await self.entries.count_of(ctx.room_id, ctx.sender, ctx.now) >= MAX_OPEN_ENTRIES:
            raise UserError(
                f"You have {MAX_OPEN_ENTRIES} open entries here: withdraw one (!skills) first. Nothing was kept."
            )
        close = [] if tag in known else suggestions(tag, known)
        until = ctx.now + self.config.entry_ttl
        async with self.host.db.transaction():
            entry = await self.entries.add(ctx.room_id, kind, tag, ctx.sender, note, ctx.now, until)
            await self.known.touch(ctx.room_id, tag, ctx.now)
            others = await self.entries.open(ctx.room_id, ctx.now, tag)
            pairs = matches_for(entry, others, await self.matches.pairs(ctx.room_id), ctx.now)
            made: list[tuple[Match, str | None, str | None]] = []
            for ask_entry, offer_entry in pairs:
                match = await self.matches.add(
                    ctx.room_id, ask_entry, offer_entry, ctx.now, ctx.now + self.config.match_ttl
                )
                if match is not None:
                    made.append((match, ask_entry.note, offer_entry.note))
        await ctx.reply(render.posted(entry, self.config.entry_ttl, len(made), close))
        for match, ask_note, offer_note in made:
            await self._ask_both(ctx.room_id, match, ask_note, offer_note)
        if made:
            log.info("skills: an entry met %d others", len(made))

    def _known_prefix(self, typed: str, note: str | None, known: list[str]) -> tuple[str, str | None]:
        """The skill and the note: a known skill of several words typed with spaces (``first
        aid`` when ``first-aid`` is known) takes its words from the note's start."""
        words = (note or "").split()
        for n in range(min(3, len(words)), 0, -1):
            try:
                candidate = self.skill_of(" ".join([typed, *words[:n]]))
            except SkillError:
                continue
            if candidate in known:
                return candidate, " ".join(words[n:]) or None
        return self.skill_of(typed), note

    async def _ask_both(
        self, room_id: RoomID, match: Match, ask_note: str | None, offer_note: str | None
    ) -> None:
        room_name = await self._room_name(room_id)
        ttl = self.config.match_ttl
        for user, side, note in ((match.asker, "asker", offer_note), (match.offerer, "offerer", ask_note)):
            message = render.ask_consent(match, side, room_name, note, ttl)
            await self._dm(user, message, key(self.name, "match", match.id, side))

    async def _dm(self, user: str, message: Message, k: str) -> None:
        try:
            await self.host.post(await self.dm_room(user), message, k)
        except MatrixError as exc:  # a person the bot cannot reach: the match waits, then expires
            log.warning("skills: could not open a direct chat (%s)", exc.errcode)

    async def _room_name(self, room_id: RoomID) -> str:
        try:
            return await self.host.room_name(room_id) or "your group's room"
        except MatrixError:
            return "your group's room"

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
            raise UserError(f"There is no open entry #{entry} here: !skills lists yours.")
        if found[1].user != ctx.sender:
            raise UserError(f"Entry #{entry} is not yours: only who posted it withdraws it.")
        async with self.host.db.transaction():
            await self.entries.delete(entry)
            await self.matches.forget_entry(entry)
        await ctx.reply(Message.of(f"Withdrawn: #{entry} ({found[1].kind} of {found[1].skill})."))

    # -- consent ------------------------------------------------------------------------------

    @command("swap yes", help="Agree to be put in touch for a match (in our direct chat)")
    async def swap_yes(self, ctx: CommandContext, match: int) -> None:
        await self._answer(ctx, match, True)

    @command("swap no", help="Decline a match: nobody learns your name")
    async def swap_no(self, ctx: CommandContext, match: int) -> None:
        await self._answer(ctx, match, False)

    async def _answer(self, ctx: CommandContext, match_id: int, yes: bool) -> None:
        found = await self.matches.get(match_id, ctx.now)
        if found is None:
            raise UserError(
                f"There is no open match {match_id} (a match waits {self.config.match_ttl.days} days)."
            )
        room_id, match = found
        if ctx.sender not in (match.asker, match.offerer):
            raise UserError(f"There is no open match {match_id} for you.")
        updated = answer(match, ctx.sender, yes)
        await self.matches.save_answers(updated)
        outcome = updated.outcome
        if outcome == INTRODUCE:
            room_name = await self._room_name(RoomID(room_id))
            for user in (updated.asker, updated.offerer):
                other = updated.other(user)
                await self._dm(
                    user, render.introduce(updated, other, room_name), key(self.name, "intro", match_id, user)
                )
            log.info("skills: match %d introduced", match_id)
            if not ctx.is_direct:
                await ctx.reply(Message.of("Both said yes: I introduced you by direct message."))
            return
        if outcome == DECLINED:
            other = updated.other(ctx.sender)
            await self._dm(other, render.not_going_ahead(updated), key(self.name, "off", match_id, other))
            await ctx.reply(render.declined(updated))
            return
        await ctx.reply(render.waiting(updated))
